// brig-bench: per-build cost of the script host. See bench/README.md.
PerBuildBenchmark.main(CommandLine.arguments)
