//! Every invalid scenario under tests/invalid-scenarios/ must be refused with positioned
//! messages; the rendered errors (message, file:line:col, source line, caret) are snapshots.

use splitbrain::scenario;
use std::path::Path;

#[test]
fn invalid_scenarios_are_refused_with_positioned_messages() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid-scenarios");
    let files = scenario::files_in(&dir).expect("tests/invalid-scenarios is readable");
    assert!(files.len() >= 10, "expected the invalid scenario files");
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let shown = format!("tests/invalid-scenarios/{name}.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let errors = match scenario::parse(&name, &shown, &text) {
            Ok(_) => panic!("{shown} was accepted but is invalid"),
            Err(errors) => errors,
        };
        let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
        insta::assert_snapshot!(name, rendered.join("\n\n"));
    }
}
