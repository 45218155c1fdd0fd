namespace SagePtq.Quantizer.Methods.Sage;

/// <summary>
/// Brent's bounded 1-D minimization (golden-section steps safeguarding parabolic interpolation),
/// written from the textbook description. Used to pick each matrix's saliency ratio (DESIGN.md §5.4).
/// </summary>
public static class BrentMinimizer
{
    private static readonly double GoldenSection = 0.5 * (3.0 - Math.Sqrt(5.0));

    /// <summary>The best point found and its value, and how many times <c>f</c> ran.</summary>
    public readonly record struct Result(double X, double Value, int Evaluations);

    /// <summary>
    /// Minimizes <paramref name="f"/> on [<paramref name="lower"/>, <paramref name="upper"/>] to an absolute
    /// x tolerance <paramref name="tolerance"/>, with at most <paramref name="maxEvaluations"/> evaluations.
    /// The bounds themselves are also evaluated, so a minimum sitting on a bound is found
    /// (Brent's interior search alone only approaches it).
    /// </summary>
    public static Result Minimize(Func<double, double> f, double lower, double upper, double tolerance, int maxEvaluations)
    {
        ArgumentNullException.ThrowIfNull(f);
        if (!(lower <= upper)) throw new ArgumentException($"lower bound {lower} is above upper bound {upper}");
        if (!(tolerance > 0)) throw new ArgumentException($"tolerance must be positive, got {tolerance}", nameof(tolerance));
        if (maxEvaluations < 3) throw new ArgumentException("at least 3 evaluations are needed", nameof(maxEvaluations));

        int evaluations = 0;
        double bestX = lower, bestF = double.PositiveInfinity;
        double Eval(double x)
        {
            evaluations++;
            double v = f(x);
            if (v < bestF || (v == bestF && x < bestX)) { bestF = v; bestX = x; }
            return v;
        }

        Eval(lower);
        if (upper == lower) return new Result(bestX, bestF, evaluations);
        Eval(upper);

        double a = lower, b = upper;
        double x0 = a + GoldenSection * (b - a);
        double w = x0, v0 = x0;
        double fx = Eval(x0), fw = fx, fv = fx;
        double d = 0, e = 0;
        while (evaluations < maxEvaluations)
        {
            double mid = 0.5 * (a + b);
            double tol1 = 1e-10 * Math.Abs(x0) + tolerance / 3.0;
            double tol2 = 2.0 * tol1;
            if (Math.Abs(x0 - mid) <= tol2 - 0.5 * (b - a)) break;

            bool golden = true;
            if (Math.Abs(e) > tol1)
            {
                // Parabola through (x, w, v); accepted only if it falls inside and shrinks the step.
                double r = (x0 - w) * (fx - fv);
                double q = (x0 - v0) * (fx - fw);
                double p = (x0 - v0) * q - (x0 - w) * r;
                q = 2.0 * (q - r);
                if (q > 0) p = -p; else q = -q;
                double previous = e;
                e = d;
                if (Math.Abs(p) < Math.Abs(0.5 * q * previous) && p > q * (a - x0) && p < q * (b - x0))
                {
                    d = p / q;
                    double u0 = x0 + d;
                    if (u0 - a < tol2 || b - u0 < tol2) d = x0 < mid ? tol1 : -tol1;
                    golden = false;
                }
            }
            if (golden)
            {
                e = x0 >= mid ? a - x0 : b - x0;
                d = GoldenSection * e;
            }
            double u = Math.Abs(d) >= tol1 ? x0 + d : x0 + (d > 0 ? tol1 : -tol1);
            u = Math.Clamp(u, lower, upper);
            double fu = Eval(u);
            if (fu <= fx)
            {
                if (u >= x0) a = x0; else b = x0;
                v0 = w; fv = fw; w = x0; fw = fx; x0 = u; fx = fu;
            }
            else
            {
                if (u < x0) a = u; else b = u;
                if (fu <= fw || w == x0) { v0 = w; fv = fw; w = u; fw = fu; }
                else if (fu <= fv || v0 == x0 || v0 == w) { v0 = u; fv = fu; }
            }
        }
        return new Result(bestX, bestF, evaluations);
    }
}
