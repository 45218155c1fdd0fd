namespace SagePtq.Quantizer.Numerics;

/// <summary>
/// A (damped) Hessian stayed not positive definite after every damping retry, so its Cholesky
/// factor does not exist. The usual causes are too little or degenerate calibration data.
/// </summary>
public sealed class NotPositiveDefiniteException(string message) : Exception(message);
