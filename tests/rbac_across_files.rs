//! Drives the real binary over RBAC objects spread across files: a role's warnings name the
//! bindings of the run's other files that grant it, and only those.

use std::fs;

use tempfile::TempDir;

mod common;
use common::binary::{kubeharden, stderr};

const ROLE: &str = "\
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: debugger
  namespace: shop
rules:
  - apiGroups: [\"\"]
    resources: [pods/exec]
    verbs: [create]
";

/// A RoleBinding of the Role `debugger` in `namespace`, and a binding of `cluster-admin`.
fn bindings(namespace: &str) -> String {
    format!(
        "\
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: debuggers
  namespace: {namespace}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: debugger
subjects:
  - kind: ServiceAccount
    name: support
    namespace: {namespace}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: ops-admin
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
  - kind: Group
    name: ops
"
    )
}

/// What `fix --dry-run` of the folder `deploy`, holding `files`, prints on standard error.
fn warnings(files: &[(&str, &str)]) -> String {
    let dir = TempDir::new().unwrap();
    for (name, contents) in files {
        let path = dir.path().join("deploy").join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }
    let out = kubeharden(
        dir.path(),
        &[
            "fix",
            "--dry-run",
            "--only",
            "rbac-least-privilege",
            "deploy",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stderr(&out)
}

#[test]
fn a_role_names_the_binding_of_another_file_of_the_walk() {
    let err = warnings(&[
        ("role.yaml", ROLE),
        ("access/bindings.yaml", &bindings("shop")),
    ]);
    assert!(
        err.contains(
            "Role/debugger: exec and proxy: grants pods/exec, a shell in containers or the kubelet's API, past the application's own checks (reachable through RoleBinding/debuggers to ServiceAccount shop/support in deploy/access/bindings.yaml)"
        ),
        "{err}"
    );
    // The binding of cluster-admin is reported on the binding, once.
    assert_eq!(
        err.matches("cluster-admin: grants cluster-admin").count(),
        1,
        "{err}"
    );
}

#[test]
fn a_role_and_its_binding_in_one_file_name_it_once() {
    let err = warnings(&[("all.yaml", &format!("{ROLE}---\n{}", bindings("shop")))]);
    assert!(
        err.contains("(reachable through RoleBinding/debuggers to ServiceAccount shop/support)\n"),
        "{err}"
    );
}

#[test]
fn a_binding_in_another_namespace_does_not_grant_the_role() {
    let err = warnings(&[
        ("role.yaml", ROLE),
        ("access/bindings.yaml", &bindings("billing")),
    ]);
    assert!(err.contains("Role/debugger: exec and proxy"), "{err}");
    assert!(!err.contains("reachable through"), "{err}");
}
