// `scripts/bench tokens [ROUNDS]`: the token check on its own, per token, in µs of this thread's CPU.
TokenBenchmark.main(arguments: Array(CommandLine.arguments.dropFirst()))
