"""The benchmark scenarios `make bench` runs, in this order. Each module exposes
`run(ctx: bench.harness.BenchContext) -> list[bench.harness.Figure]`."""

SCENARIOS: dict[str, str] = {
    "ordering": "bench.scenarios.ordering",
    "import": "bench.scenarios.referential_import",
    "pdf": "bench.scenarios.pdf",
    "mailing": "bench.scenarios.mailing",
    "calendar": "bench.scenarios.calendar",
    "exports": "bench.scenarios.exports",
}
