// Temporary entry point of the helper base branch; main holds the real CLI.
return 0;
