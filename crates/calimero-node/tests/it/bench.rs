//! The benchmark harness (`cargo xtask bench`) run for a moment against this
//! binary: every row runs and every answer checks. Its figures are not
//! looked at (a debug build, tiny windows).

use std::path::PathBuf;

#[test]
fn every_benchmark_row_runs_and_every_answer_checks() {
    let apps = test_utils::built_app_path("kv-store")
        .parent()
        .expect("target/apps")
        .to_path_buf();
    let options = bench::Options::smoke(PathBuf::from(env!("CARGO_BIN_EXE_calimero-node")), apps);
    let runs = bench::run(&options, |_| {}).expect("the harness runs");
    let rows = &runs[0];
    let names: Vec<&str> = rows.iter().map(|row| row.name.as_str()).collect();
    assert_eq!(rows.len(), 11, "{names:#?}");
    for row in rows {
        assert!(row.summary.ok > 0, "{}: nothing completed", row.name);
        assert_eq!(
            (row.summary.errors, row.summary.timeouts),
            (0, 0),
            "{}: {:?}",
            row.name,
            row.summary.first_error
        );
    }
    let table = bench::report::table(&bench::report::lines(&runs));
    for name in names {
        assert!(table.contains(name), "{name} missing from\n{table}");
    }
}
