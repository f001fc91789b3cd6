//! Every workload of `../shared/corpus` that runs the stock nginx image (repository `nginx` or
//! `library/nginx`, any registry, tag or digest) can write /var/cache/nginx and /var/run after
//! `kubeharden fix`, as the image's documentation requires for a read-only root filesystem.
//! When the corpus is absent, the test says so and passes.

mod common;

use std::fs;

use assert_cmd::Command;
use common::{Value, corpus_dir, manifests, read_keeping_duplicates};
use kubeharden::k8s::image::{ImageName, ImagePattern};

/// The documents of a YAML stream (none when it cannot be read).
fn documents(text: &str) -> Vec<Value> {
    read_keeping_duplicates(text).unwrap_or_default()
}

/// Every container and init container below `value`.
fn containers<'v>(value: &'v Value, out: &mut Vec<&'v Value>) {
    match value {
        Value::Map(entries) => {
            for (key, child) in entries {
                if matches!(key.as_str(), Some("containers" | "initContainers"))
                    && let Value::Seq(items) = child
                {
                    out.extend(items.iter().filter(|i| matches!(i, Value::Map(_))));
                }
                containers(child, out);
            }
        }
        Value::Seq(items) => items.iter().for_each(|i| containers(i, out)),
        _ => {}
    }
}

fn stock_nginx(container: &Value) -> bool {
    container
        .get("image")
        .and_then(Value::as_str)
        .is_some_and(|image| ImageName::of(image).matches(&ImagePattern::new("nginx")))
}

#[test]
fn every_stock_nginx_workload_of_the_corpus_gets_its_writable_folders() {
    let Some(corpus) = corpus_dir() else {
        println!("nginx corpus test: ../shared/corpus is absent; skipped");
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let mut copied = Vec::new();
    for (i, file) in manifests(&corpus).iter().enumerate() {
        let Ok(text) = fs::read_to_string(corpus.join(file)) else {
            continue;
        };
        let read = documents(&text);
        let mut found = Vec::new();
        read.iter().for_each(|d| containers(d, &mut found));
        if found.iter().any(|c| stock_nginx(c)) {
            let name = format!("{i}-{}", file.file_name().unwrap().to_string_lossy());
            fs::write(work.path().join(&name), &text).unwrap();
            copied.push((file.display().to_string(), name));
        }
    }
    assert!(
        !copied.is_empty(),
        "the corpus holds no stock nginx workload"
    );
    // `fix` writes what it can: exit code 2 says some other document could not be processed.
    let fixed = Command::cargo_bin("kubeharden")
        .unwrap()
        .current_dir(work.path())
        .args(["fix", "."])
        .output()
        .unwrap();
    assert!(
        matches!(fixed.status.code(), Some(0 | 2)),
        "fix failed: {}",
        String::from_utf8_lossy(&fixed.stderr)
    );
    let mut failures = Vec::new();
    let mut containers_checked = 0;
    for (original, name) in &copied {
        let text = fs::read_to_string(work.path().join(name)).unwrap();
        for document in documents(&text) {
            let mut found = Vec::new();
            containers(&document, &mut found);
            for container in found.into_iter().filter(|c| stock_nginx(c)) {
                containers_checked += 1;
                let mounts: Vec<&str> = match container.get("volumeMounts") {
                    Some(Value::Seq(mounts)) => mounts
                        .iter()
                        .filter_map(|m| m.get("mountPath").and_then(Value::as_str))
                        .collect(),
                    _ => Vec::new(),
                };
                for folder in ["/var/cache/nginx", "/var/run"] {
                    let covered = mounts.iter().any(|m| {
                        let m = m.trim_end_matches('/');
                        folder == m || folder.starts_with(&format!("{m}/"))
                    });
                    if !covered {
                        failures.push(format!(
                            "{original}: container {:?} does not mount {folder}",
                            container.get("name").and_then(Value::as_str)
                        ));
                    }
                }
            }
        }
    }
    println!(
        "nginx corpus test: {} files, {containers_checked} stock nginx containers",
        copied.len()
    );
    assert!(
        failures.is_empty(),
        "{} stock nginx containers lack a writable folder:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
