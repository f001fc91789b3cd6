//! Pod templates inside custom resources: the real binary hardens one manifest of each built-in
//! kind (OpenShift DeploymentConfig, Argo Rollout, Knative Service and Configuration, KEDA
//! ScaledJob, OpenKruise CloneSet, Advanced StatefulSet and Advanced DaemonSet) and handles its
//! rollout strategy as the kind calls it; kinds declared under `kinds:` in `.kubeharden.yaml`
//! are hardened too, and a declaration that points at nothing is a one-line error.

use std::fs;

use tempfile::TempDir;

mod common;
use common::binary::{kubeharden, stderr};
use common::{Value, read_independently, workloads};
use kubeharden::transform::{Profile, Settings};

/// One manifest of a built-in custom kind, and what its rollout strategy must be after `fix`.
struct Case {
    file: &'static str,
    manifest: &'static str,
    /// A dotted path from the object and the value it must hold after the run, or `None` when
    /// the field must be absent.
    rollout: &'static [(&'static str, Option<&'static str>)],
    /// Whether Knative's API refuses `privileged` (kubeharden then holds it back).
    knative: bool,
}

const CASES: &[Case] = &[
    Case {
        file: "deploymentconfig.yaml",
        manifest: "\
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata:
  name: web
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: web
          image: nginx:1.27
",
        rollout: &[
            ("spec.strategy.type", Some("Rolling")),
            ("spec.strategy.rollingParams.maxUnavailable", Some("0")),
            ("spec.strategy.rollingParams.maxSurge", Some("25%")),
        ],
        knative: false,
    },
    Case {
        file: "deploymentconfig-recreate.yaml",
        manifest: "\
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata:
  name: api
spec:
  replicas: 2
  strategy:
    type: Recreate
  template:
    spec:
      containers:
        - name: api
          image: nginx:1.27
",
        rollout: &[
            ("spec.strategy.type", Some("Rolling")),
            ("spec.strategy.rollingParams", None),
        ],
        knative: false,
    },
    Case {
        file: "rollout.yaml",
        manifest: "\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: canary
spec:
  replicas: 3
  strategy:
    canary:
      steps:
        - setWeight: 20
  template:
    spec:
      containers:
        - name: app
          image: nginx:1.27
",
        rollout: &[
            ("spec.strategy.canary.steps", Some("[setWeight: 20]")),
            ("spec.strategy.type", None),
        ],
        knative: false,
    },
    Case {
        file: "knative-service.yaml",
        manifest: "\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
        - name: hello
          image: nginx:1.27
",
        rollout: &[("spec.template.spec.securityContext", None)],
        knative: true,
    },
    Case {
        file: "knative-configuration.yaml",
        manifest: "\
apiVersion: serving.knative.dev/v1
kind: Configuration
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
        - name: hello
          image: nginx:1.27
",
        rollout: &[("spec.template.spec.securityContext", None)],
        knative: true,
    },
    Case {
        file: "scaledjob.yaml",
        manifest: "\
apiVersion: keda.sh/v1alpha1
kind: ScaledJob
metadata:
  name: worker
spec:
  jobTargetRef:
    template:
      spec:
        restartPolicy: Never
        containers:
          - name: worker
            image: nginx:1.27
  triggers:
    - type: cron
",
        rollout: &[("spec.strategy", None), ("spec.updateStrategy", None)],
        knative: false,
    },
    Case {
        file: "cloneset.yaml",
        manifest: "\
apiVersion: apps.kruise.io/v1alpha1
kind: CloneSet
metadata:
  name: web
spec:
  replicas: 3
  updateStrategy:
    type: ReCreate
  template:
    spec:
      containers:
        - name: web
          image: nginx:1.27
",
        rollout: &[("spec.updateStrategy.type", Some("ReCreate"))],
        knative: false,
    },
    Case {
        file: "advanced-statefulset.yaml",
        manifest: "\
apiVersion: apps.kruise.io/v1beta1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  template:
    spec:
      containers:
        - name: db
          image: nginx:1.27
",
        rollout: &[("spec.updateStrategy.type", Some("RollingUpdate"))],
        knative: false,
    },
    Case {
        file: "advanced-daemonset.yaml",
        manifest: "\
apiVersion: apps.kruise.io/v1alpha1
kind: DaemonSet
metadata:
  name: agent
spec:
  updateStrategy:
    type: OnDelete
  template:
    spec:
      containers:
        - name: agent
          image: nginx:1.27
",
        rollout: &[("spec.updateStrategy.type", Some("OnDelete"))],
        knative: false,
    },
];

/// The value at a dotted path, as text (a list of one-entry maps as `[key: value]`).
fn text_at(root: &Value, dotted: &str) -> Option<String> {
    let node = dotted.split('.').try_fold(root, |n, k| n.get(k))?;
    Some(match node {
        Value::Seq(items) => {
            let shown: Vec<String> = items
                .iter()
                .map(|item| match item {
                    Value::Map(entries) => entries
                        .iter()
                        .map(|(k, v)| format!("{}: {}", k.as_str().unwrap_or("?"), show(v)))
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => show(other),
                })
                .collect();
            format!("[{}]", shown.join(", "))
        }
        other => show(other),
    })
}

fn show(value: &Value) -> String {
    match value {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

#[test]
fn the_pod_templates_of_built_in_custom_resources_come_out_hardened() {
    let dir = TempDir::new().unwrap();
    for case in CASES {
        fs::write(dir.path().join(case.file), case.manifest).unwrap();
    }
    let out = kubeharden(dir.path(), &["fix", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = stderr(&out);
    let mut failures = Vec::new();
    for case in CASES {
        let text = fs::read_to_string(dir.path().join(case.file)).unwrap();
        let object = &read_independently(&text).unwrap()[0];
        let pods = workloads(object);
        let [pod] = pods.as_slice() else {
            failures.push(format!("{}: {} pod specs", case.file, pods.len()));
            continue;
        };
        let containers = match pod.pod.get("containers") {
            Some(Value::Seq(items)) => items.as_slice(),
            _ => &[],
        };
        for container in containers {
            let mut expected = vec![
                ("securityContext.allowPrivilegeEscalation", Some("false")),
                ("securityContext.readOnlyRootFilesystem", Some("true")),
                ("securityContext.capabilities.drop", Some("[ALL]")),
                (
                    "volumeMounts",
                    Some(
                        "[name: tmp, mountPath: /tmp, name: var-cache-nginx, mountPath: /var/cache/nginx, name: var-run, mountPath: /var/run]",
                    ),
                ),
            ];
            // Knative's API refuses `privileged`, whose default is false there.
            expected.push((
                "securityContext.privileged",
                (!case.knative).then_some("false"),
            ));
            for (path, want) in expected {
                let got = text_at(container, path);
                if got.as_deref() != want {
                    failures.push(format!("{} {}: {path} is {got:?}", case.file, pod.label));
                }
            }
        }
        for (path, want) in case.rollout {
            let got = text_at(object, path);
            if got.as_deref() != *want {
                failures.push(format!("{}: {path} is {got:?}, not {want:?}", case.file));
            }
        }
        if case.knative
            && !report.contains(&format!(
                "{}:9: no-privileged: {} container hello: spec.template.spec.containers[0].securityContext.privileged set to false: held back, since Knative rejects",
                case.file, pod.label
            ))
        {
            failures.push(format!("{}: no held-back privileged reported", case.file));
        }
    }
    assert!(
        report.contains(
            "advanced-daemonset.yaml:7: rolling-update: DaemonSet/agent: keeps its OnDelete"
        ),
        "{report}"
    );
    assert!(failures.is_empty(), "{}\n{report}", failures.join("\n"));
    // A second run changes nothing.
    let again = kubeharden(dir.path(), &["fix", "--dry-run", "."]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
}

#[test]
fn custom_resources_keep_the_invariants_in_every_profile() {
    let profiles: Vec<Settings> = [Profile::Default, Profile::Restricted, Profile::Strict]
        .into_iter()
        .map(Settings::of_profile)
        .collect();
    for case in CASES {
        for settings in &profiles {
            let checked = common::check(case.manifest, settings);
            assert!(checked.changed, "{}: unchanged", case.file);
            assert!(
                checked.failures.is_empty(),
                "{} ({}): {:?}",
                case.file,
                settings.profile,
                checked.failures
            );
            assert!(checked.guaranteed > 0, "{}: nothing checked", case.file);
        }
    }
}

#[test]
fn kinds_match_on_api_group_as_well_as_kind() {
    let dir = TempDir::new().unwrap();
    let unknown = "\
apiVersion: example.com/v1
kind: StatefulSet
metadata:
  name: look-alike
spec:
  template:
    spec:
      containers:
        - name: app
          image: nginx:1.27
";
    fs::write(dir.path().join("other.yaml"), unknown).unwrap();
    let out = kubeharden(dir.path(), &["fix", "--dry-run", "other.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

const WIDGET: &str = "\
apiVersion: example.com/v2
kind: Widget
metadata:
  name: gadget
spec:
  podTemplate:
    spec:
      containers:
        - name: app
          image: nginx:1.27
";

const DECLARATION: &str = "\
kinds:
  - apiVersion: example.com/*
    kind: Widget
    pod-spec: spec.podTemplate.spec
";

#[test]
fn a_declared_kind_is_hardened() {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("widget.yaml"), WIDGET).unwrap();
    fs::write(dir.path().join("config.yaml"), DECLARATION).unwrap();
    let out = kubeharden(
        dir.path(),
        &["fix", "--config", "config.yaml", "widget.yaml"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = fs::read_to_string(dir.path().join("widget.yaml")).unwrap();
    let object = &read_independently(&text).unwrap()[0];
    let container = text_at(object, "spec.podTemplate.spec.containers");
    assert!(
        container.is_some_and(|c| c.contains("readOnlyRootFilesystem")),
        "{text}"
    );
    // Without the declaration, a Widget is none of kubeharden's business.
    fs::write(dir.path().join("widget.yaml"), WIDGET).unwrap();
    let out = kubeharden(dir.path(), &["fix", "--dry-run", "widget.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_declaration_that_points_at_nothing_is_a_one_line_error_naming_it() {
    let dir = TempDir::new().unwrap();
    let moved = WIDGET.replace("podTemplate", "template");
    fs::write(dir.path().join("widget.yaml"), &moved).unwrap();
    fs::write(dir.path().join("pod.yaml"), common_pod()).unwrap();
    fs::write(dir.path().join("config.yaml"), DECLARATION).unwrap();
    let out = kubeharden(dir.path(), &["fix", "--config", "config.yaml", "."]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let report = stderr(&out);
    let error: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("widget.yaml"))
        .collect();
    assert_eq!(
        error,
        [
            "error: widget.yaml:1:1: Widget/gadget (example.com/v2) has no pod spec at spec.podTemplate.spec, where the kinds: declaration at config.yaml:2:5 (apiVersion example.com/*, kind Widget, pod-spec spec.podTemplate.spec) puts it"
        ],
        "{report}"
    );
    // Nothing written for it; the other file is still fixed.
    assert_eq!(
        fs::read_to_string(dir.path().join("widget.yaml")).unwrap(),
        moved
    );
    assert_ne!(
        fs::read_to_string(dir.path().join("pod.yaml")).unwrap(),
        common_pod()
    );
}

#[test]
fn a_malformed_declaration_is_an_error_at_its_place() {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("widget.yaml"), WIDGET).unwrap();
    let config = DECLARATION.replace("spec.podTemplate.spec", "spec..spec");
    fs::write(dir.path().join("config.yaml"), config).unwrap();
    let out = kubeharden(
        dir.path(),
        &["fix", "--config", "config.yaml", "widget.yaml"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "config.yaml:2:5: pod-spec `spec..spec` is not a dotted path such as spec.template.spec"
        ),
        "{}",
        stderr(&out)
    );
}

fn common_pod() -> &'static str {
    "\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
    - name: web
      image: nginx:1.27
"
}
