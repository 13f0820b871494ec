//! The runtime's shape, checked from its sources: no web framework and no network database
//! driver among its dependencies; no source file over 500 lines (its stores' crates included); no
//! import cycle between its top-level modules (each layer only uses the ones below it); no
//! module importing upward through the crate root (`crate::Outcome`, `crate::report`): each
//! names the module that defines what it uses; `dispatch` knows nothing of parsing; and the code
//! `#[on_event]` and `handlers![…]` generate names nothing of this crate but `__private`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use roamify_hooks::events::{EsimUsage, PartnerBalance};
use roamify_hooks::{State, UnknownEvent};

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`delivery` for `src/delivery/redis/mod.rs`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src");
    let first = relative
        .components()
        .next()
        .expect("a path")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// The top-level modules a source names through `crate::…`, comments left out.
fn uses(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        // `$crate::` names the crate from a macro; it is the same path.
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a::b, c};`: the first segment of each top-level item of the group.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.extend(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
            found.extend(first_segment(&item));
        } else {
            found.extend(first_segment(rest));
        }
    }
    found
}

fn first_segment(path: &str) -> Option<String> {
    let name: String = path
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Every source file of the runtime with its top-level module and the first segments of the
/// `crate::…` paths it names.
fn runtime_sources() -> (PathBuf, Vec<(PathBuf, String, BTreeSet<String>)>) {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let found = files
        .into_iter()
        .map(|file| {
            let module = module_of(&src, &file);
            let text = std::fs::read_to_string(&file).expect("readable source");
            (file, module, uses(&text))
        })
        .collect();
    (src, found)
}

fn is_module(src: &Path, name: &str) -> bool {
    src.join(format!("{name}.rs")).is_file() || src.join(name).is_dir()
}

/// The top-level modules each top-level module imports.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let (src, files) = runtime_sources();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, module, used) in files {
        let targets = graph.entry(module.clone()).or_default();
        for used in used {
            if is_module(&src, &used) && used != module {
                targets.insert(used);
            }
        }
    }
    graph
}

#[test]
fn nothing_imports_upward_through_the_crate_root() {
    let (src, files) = runtime_sources();
    let mut upward = Vec::new();
    for (file, module, used) in &files {
        if module == "lib" {
            continue;
        }
        // `crate::__private` is the door generated code uses; the runtime's own modules never
        // go through it either.
        for name in used {
            if !is_module(&src, name) || name == "__private" {
                upward.push(format!(
                    "{}: crate::{name}",
                    file.strip_prefix(&src).expect("under src").display()
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "import the defining module instead of the crate root:\n{}",
        upward.join("\n")
    );
    // The check sees paths at all (the scan did not silently find nothing).
    assert!(
        files
            .iter()
            .any(|(_, m, used)| m == "receiver" && used.contains("delivery"))
    );
}

#[test]
fn dispatch_knows_nothing_of_parsing() {
    let graph = module_graph();
    let dispatch = &graph["dispatch"];
    assert!(
        dispatch.contains("catalog"),
        "the scan found dispatch's imports: {dispatch:?}"
    );
    assert!(
        !dispatch.contains("parse"),
        "dispatch imports parse: handlers take events, not bodies ({dispatch:?})"
    );
}

#[test]
fn the_runtime_has_no_module_cycles() {
    let graph = module_graph();
    assert!(graph.contains_key("receiver") && graph["receiver"].contains("delivery"));
    // Depth-first search for a path back to where it started.
    fn cycle_from(
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        let last = path.last().expect("non-empty").clone();
        for next in graph.get(&last).into_iter().flatten() {
            if *next == path[0] {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if !path.contains(next) {
                path.push(next.clone());
                if let Some(cycle) = cycle_from(graph, path) {
                    return Some(cycle);
                }
                path.pop();
            }
        }
        None
    }
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, &mut vec![module.clone()]) {
            panic!("import cycle between modules: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_runtime_depends_on_no_web_framework() {
    let manifest =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("Cargo.toml");
    for framework in ["actix", "axum", "hyper", "warp", "rocket", "tower"] {
        assert!(
            !manifest
                .lines()
                .any(|line| line.trim_start().starts_with(framework)),
            "roamify-hooks depends on {framework}: adapters belong in their own crates"
        );
    }
}

/// The PostgreSQL and Redis stores live in their own crates: the core builds no network
/// database driver, whatever its features.
#[test]
fn the_runtime_depends_on_no_network_database_driver() {
    let manifest =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("Cargo.toml");
    let dependencies = manifest
        .split("[dev-dependencies]")
        .next()
        .expect("the manifest");
    for driver in [
        "tokio-postgres",
        "deadpool",
        "postgres",
        "redis",
        "sqlx",
        "fred",
    ] {
        assert!(
            !dependencies
                .lines()
                .any(|line| line.trim_start().starts_with(driver)),
            "roamify-hooks depends on {driver}: network stores belong in their own crates"
        );
    }
}

/// Files stay small enough to read in one sitting: none of the runtime's or its stores' sources
/// is over 500 lines.
#[test]
fn no_source_file_of_the_runtime_or_its_stores_is_over_500_lines() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for krate in [
        "roamify-hooks",
        "roamify-hooks-postgres",
        "roamify-hooks-redis",
    ] {
        sources(&root.join(krate).join("src"), &mut files);
    }
    assert!(files.len() > 40, "found the sources: {}", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file)
                .expect("source")
                .lines()
                .count();
            (lines > 500).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these: {long:?}");
}

/// A crate path under which nothing but `__private` exists: an expansion naming anything else of
/// the runtime (`Receiver`, `dispatch::Handlers`…) through it does not compile.
mod only_private {
    pub(crate) use roamify_hooks::__private;
}

#[roamify_hooks::on_event(crate = crate::only_private, category = "partner", kind = "low_balance")]
fn sync_handler(_: PartnerBalance) {}

#[roamify_hooks::on_event(crate = crate::only_private, category = "esim", kind = "usage")]
async fn async_handler(_: EsimUsage, _: State<u32>) -> Result<(), std::io::Error> {
    Ok(())
}

#[derive(serde::Deserialize)]
struct Future {}

#[roamify_hooks::on_event(
    crate = crate::only_private,
    category = "partner",
    kind = "future",
    uncatalogued
)]
fn uncatalogued_handler(_: Future) {}

#[roamify_hooks::on_event(crate = crate::only_private, fallback)]
fn fallback_handler(_: UnknownEvent) {}

#[roamify_hooks::on_event(crate = crate::only_private, category = "refund", kind = "refunded")]
fn event_handler(_: roamify_hooks::events::Refund) {}

#[test]
fn generated_code_names_only_private() {
    // Compiling this file is the check; a table built from it also runs.
    let receiver = roamify_hooks::Receiver::builder()
        .secret(roamify_hooks::Secret::new("whsec_architecture").expect("secret"))
        .state(7_u32)
        .build(roamify_hooks::handlers![
            crate = crate::only_private,
            sync_handler,
            async_handler,
            uncatalogued_handler,
            event_handler,
            fallback = fallback_handler,
        ])
        .expect("build");
    let body = roamify_hooks::testing::sample(roamify_hooks::EventKind::PartnerLowBalance);
    let outcome = futures_executor::block_on(receiver.receive(
        [roamify_hooks::testing::sign("whsec_architecture", body)],
        body,
    ));
    assert!(
        matches!(
            outcome,
            roamify_hooks::Outcome::Handled {
                handler: "sync_handler",
                ..
            }
        ),
        "{outcome:?}"
    );

    // And the macros never name the runtime by its own name, but through the crate path they
    // were given (`::roamify_hooks` only as its default).
    let macros = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../roamify-hooks-macros/src");
    let mut files = Vec::new();
    sources(&macros, &mut files);
    let mut named = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable source");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("roamify_hooks")
                && !code.contains("quote!(::roamify_hooks)")
                && !code.contains('"')
            {
                named.push(format!("{}:{}: {line}", file.display(), number + 1));
            }
        }
    }
    assert!(
        named.is_empty(),
        "generated code names the runtime directly:\n{}",
        named.join("\n")
    );
}
