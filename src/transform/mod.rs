//! The transforms, read from their declarations in `transforms/`, the profiles and options that
//! select and tune them, and the planner that turns them into edits.

mod commands;
mod custom;
mod evidence;
mod knowledge;
pub mod network_policy;
mod plan;
mod planner;
mod secret_readers;
mod suppress;
mod undo;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

use crate::k8s::rbac::FileBinding;
use crate::yaml::{CollectionStyle, Node, NodeKind};
pub use knowledge::{CommandNeeds, HostPathWrites, ImageWrites, check_writes};
pub use plan::{StreamReading, plan};
pub use planner::{Change, ChangeCounts, Finding, FindingKind, Plan, describe, line_of_closest};
pub use secret_readers::SecretReader;
pub use suppress::{ANNOTATION as SUPPRESSION_ANNOTATION, Suppressions};

/// The `transform` of a finding about a whole workload that no transform could touch (a key
/// written twice): it names kubeharden itself.
pub const WHOLE_WORKLOAD: &str = "kubeharden";

/// The declarations, compiled into the binary so that it needs no files at run time. Their
/// order is the order in which transforms apply: later ones see earlier ones' edits.
const DECLARATIONS: [(&str, &str); 22] = [
    (
        "no-privileged",
        include_str!("../../transforms/no-privileged.yaml"),
    ),
    (
        "no-privilege-escalation",
        include_str!("../../transforms/no-privilege-escalation.yaml"),
    ),
    (
        "drop-capabilities",
        include_str!("../../transforms/drop-capabilities.yaml"),
    ),
    (
        "read-only-root-filesystem",
        include_str!("../../transforms/read-only-root-filesystem.yaml"),
    ),
    (
        "secrets-as-files",
        include_str!("../../transforms/secrets-as-files.yaml"),
    ),
    (
        "default-proc-mount",
        include_str!("../../transforms/default-proc-mount.yaml"),
    ),
    (
        "no-host-namespaces",
        include_str!("../../transforms/no-host-namespaces.yaml"),
    ),
    (
        "no-unconfined-seccomp",
        include_str!("../../transforms/no-unconfined-seccomp.yaml"),
    ),
    (
        "seccomp-runtime-default",
        include_str!("../../transforms/seccomp-runtime-default.yaml"),
    ),
    (
        "no-service-account-token",
        include_str!("../../transforms/no-service-account-token.yaml"),
    ),
    (
        "host-path-read-only",
        include_str!("../../transforms/host-path-read-only.yaml"),
    ),
    (
        "rolling-update",
        include_str!("../../transforms/rolling-update.yaml"),
    ),
    (
        "run-as-non-root",
        include_str!("../../transforms/run-as-non-root.yaml"),
    ),
    (
        "run-as-user",
        include_str!("../../transforms/run-as-user.yaml"),
    ),
    (
        "apparmor-runtime-default",
        include_str!("../../transforms/apparmor-runtime-default.yaml"),
    ),
    (
        "image-pull-always",
        include_str!("../../transforms/image-pull-always.yaml"),
    ),
    (
        "default-deny-network-policy",
        include_str!("../../transforms/default-deny-network-policy.yaml"),
    ),
    (
        "no-host-path",
        include_str!("../../transforms/no-host-path.yaml"),
    ),
    (
        "no-host-ports",
        include_str!("../../transforms/no-host-ports.yaml"),
    ),
    (
        "no-unconfined-apparmor",
        include_str!("../../transforms/no-unconfined-apparmor.yaml"),
    ),
    (
        "pinned-images",
        include_str!("../../transforms/pinned-images.yaml"),
    ),
    (
        "rbac-least-privilege",
        include_str!("../../transforms/rbac-least-privilege.yaml"),
    ),
];

/// One transform as declared.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Transform {
    /// Stable identifier, used on the command line, in configuration and in suppressions.
    pub id: String,
    /// One line saying what the fixed manifest guarantees.
    pub title: String,
    /// The smallest profile that turns it on.
    pub profile: Profile,
    /// Whether the fix can change how the workload behaves.
    pub safety: Safety,
    /// The practice it implements and why it matters.
    pub why: String,
    /// What the fixed workload does differently when it runs, for reviewers.
    pub at_run_time: String,
    /// Where the control is defined.
    pub references: References,
    /// What the rules' paths start from, unless a rule says otherwise.
    pub scope: Scope,
    /// Its fields exist only on Linux: Windows pods, whose API rejects them, are left alone.
    #[serde(default)]
    pub linux_only: bool,
    /// Settings a configuration file may change.
    #[serde(default)]
    pub options: Vec<OptionSpec>,
    /// Its fix is a new file beside the inputs, written by a step across all of them
    /// ([`network_policy`]), not edits of a document: it has no rules, and its example's
    /// `after` is the new file.
    #[serde(default)]
    pub new_file: bool,
    /// The edits and checks, in order.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// A manifest before and after the transform alone.
    pub example: Example,
    /// The folders well-known images write (read by the `writable-paths` step).
    #[serde(default)]
    pub image_writes: Vec<ImageWrites>,
    /// The commands that need capabilities (read by the `command-capabilities` step).
    #[serde(default)]
    pub command_needs: Vec<CommandNeeds>,
    /// The host paths node agents write (read by the `host-path-read-only` step).
    #[serde(default)]
    pub host_path_writes: Vec<HostPathWrites>,
}

/// A profile: a set of transforms for a level of hardening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// The fixes nearly every workload takes: Pod Security Standards baseline and more.
    Default,
    /// Adds what the Pod Security Standards "restricted" level requires.
    Restricted,
    /// Restricted, and evidence that a workload needs host access keeps nothing: every
    /// transform fixes as if its option `ignore-evidence` were on.
    Strict,
    /// In no profile: the transform runs only when named (`--only`, `only:` in the
    /// configuration), since it adds what not every team wants.
    OptIn,
}

impl Profile {
    /// Every profile, by name.
    pub const ALL: [(&'static str, Profile); 3] = [
        ("default", Profile::Default),
        ("restricted", Profile::Restricted),
        ("strict", Profile::Strict),
    ];

    /// Whether a rule declared for `profile` runs in this one: strict runs restricted's rules.
    pub fn runs_rules_of(self, profile: Profile) -> bool {
        profile == self.min(Profile::Restricted)
    }

    /// The profile called `name`.
    pub fn named(name: &str) -> Option<Profile> {
        Profile::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Profile::ALL
            .iter()
            .find(|(_, p)| p == self)
            .map_or("opt-in", |(n, _)| n);
        f.write_str(name)
    }
}

/// Whether a fix can be merged without looking at the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Safety {
    /// The workload keeps working as before.
    Safe,
    /// The application may need a change; review before merging.
    NeedsReview,
    /// Nothing is changed; what cannot be fixed safely is reported.
    ReportOnly,
}

impl fmt::Display for Safety {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Safety::Safe => "safe",
            Safety::NeedsReview => "needs-review",
            Safety::ReportOnly => "report-only",
        })
    }
}

/// Where a control is defined.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct References {
    /// The Pod Security Standards control.
    pub pod_security_standards: String,
    /// The matching Checkov check ids.
    #[serde(default)]
    pub checkov: Vec<String>,
}

/// What a rule's path starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// The workload object (a Deployment, a StatefulSet…).
    Workload,
    /// Each pod spec.
    Pod,
    /// Each container, init container and ephemeral container.
    Container,
    /// Each `ServiceAccount` named `default`: the account of the pods that name none.
    DefaultServiceAccount,
    /// Each Role, ClusterRole, RoleBinding and ClusterRoleBinding.
    Rbac,
}

/// A setting of a transform, with its default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OptionSpec {
    /// Its name in the configuration file.
    pub name: String,
    /// The value used when the configuration does not set it; without one the option is unset
    /// until configured, and takes a whole number (a user id no declaration can know).
    #[serde(default)]
    pub default: Option<Literal>,
    /// What it does.
    pub doc: String,
}

/// One edit or check. Exactly one action field is set: `set`, `ensure-item`, `remove-items`,
/// `keep-only-items`, `warn` or `custom`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Rule {
    /// Dotted path from the scope (not needed by `custom`).
    #[serde(default)]
    pub path: String,
    /// Another scope than the transform's.
    #[serde(default)]
    pub scope: Option<Scope>,
    /// Only in this profile (default: every profile the transform is in).
    #[serde(default)]
    pub profile: Option<Profile>,
    /// Write this value.
    #[serde(default)]
    pub set: Option<Literal>,
    /// With `set`: change the field only when it holds this value.
    #[serde(default)]
    pub only_if: Option<Literal>,
    /// With `set`: leave the field alone when it holds one of these (values at least as strict).
    #[serde(default)]
    pub keep_if: Vec<Literal>,
    /// With `set`, `remove-items` or `keep-only-items`: where the workload shows evidence of
    /// needing the explicit value the rule would take away (the tests of
    /// `transforms/evidence.yaml`: a DaemonSet, a host system path, a device, a command acting
    /// on the host, a node agent's image), keep it and warn, naming the evidence and
    /// recommending this instead. Option `ignore-evidence` (which the transform must declare)
    /// or profile strict fixes anyway.
    #[serde(default)]
    pub keep_with_evidence: Option<String>,
    /// Make sure the list holds this item, appending it (and creating the list) if needed.
    #[serde(default)]
    pub ensure_item: Option<String>,
    /// Remove these items from the list; an emptied list is removed with its key.
    #[serde(default)]
    pub remove_items: Option<Vec<String>>,
    /// Remove every item of the list but these; an emptied list is removed with its key.
    #[serde(default)]
    pub keep_only_items: Option<Vec<String>>,
    /// Report this warning when the `when-…` test holds; change nothing.
    #[serde(default)]
    pub warn: Option<String>,
    /// With `warn`: the field holds this value.
    #[serde(default)]
    pub when_equals: Option<Literal>,
    /// With `warn`: the list holds items outside these; they are named in the warning.
    #[serde(default)]
    pub when_items_outside: Option<Vec<String>>,
    /// With `warn`: an item of the list sets this key (not to null or 0); the items' names are
    /// given.
    #[serde(default)]
    pub when_any_item_has: Option<String>,
    /// Run the named Rust step, for what a declarative patch cannot say.
    #[serde(default)]
    pub custom: Option<String>,
    /// With `custom`: only when this boolean option is on.
    #[serde(default)]
    pub when_option: Option<String>,
    /// With `set`: where the rule would change the field but one of these holds, leave it and
    /// report why.
    #[serde(default)]
    pub skip_when: Vec<Condition>,
}

/// A test on the manifest that makes a rule stand aside.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Condition {
    /// Dotted path from the rule's scope; `@containers.` starts from every container of the pod.
    pub path: String,
    /// The field holds this value.
    #[serde(default)]
    pub equals: Option<Literal>,
    /// The list holds this item.
    #[serde(default)]
    pub contains: Option<String>,
    /// Why the rule stands aside, for the report.
    pub reason: String,
}

/// What a rule does, read from its fields.
pub enum Action<'r> {
    /// Write a value.
    Set(&'r Literal),
    /// Make a list hold an item.
    EnsureItem(&'r str),
    /// Remove items from a list.
    RemoveItems(&'r [String]),
    /// Keep only these items of a list.
    KeepOnlyItems(&'r [String]),
    /// Report a warning.
    Warn(&'r str),
    /// A Rust step.
    Custom(&'r str),
}

impl Rule {
    /// The rule's action; the declaration check makes sure there is exactly one.
    pub fn action(&self) -> Action<'_> {
        self.actions()
            .next()
            .unwrap_or(Action::Warn("a rule without an action"))
    }

    /// The actions the rule declares, in a fixed order; read for every rule run, so nothing is
    /// allocated.
    fn actions(&self) -> impl Iterator<Item = Action<'_>> {
        [
            self.set.as_ref().map(Action::Set),
            self.ensure_item.as_deref().map(Action::EnsureItem),
            self.remove_items.as_deref().map(Action::RemoveItems),
            self.keep_only_items.as_deref().map(Action::KeepOnlyItems),
            self.warn.as_deref().map(Action::Warn),
            self.custom.as_deref().map(Action::Custom),
        ]
        .into_iter()
        .flatten()
    }
}

/// A value in a declaration or a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Literal {
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// Any string.
    Text(String),
    /// Names and the strings each stands for (an option such as `writable-paths`).
    Table(BTreeMap<String, Vec<String>>),
}

impl Literal {
    /// Whether `node` holds this value.
    pub fn matches(&self, node: &Node<'_>) -> bool {
        match self {
            Literal::Bool(b) => node.is_bool(*b),
            Literal::Int(i) => node.as_str() == Some(i.to_string().as_str()),
            Literal::Text(s) => node.as_str() == Some(s.as_str()),
            Literal::Table(_) => false,
        }
    }

    /// A new node holding this value.
    pub fn to_node(&self) -> Node<'static> {
        match self {
            Literal::Bool(b) => Node::new_scalar(b.to_string(), false),
            Literal::Int(i) => Node::new_scalar(i.to_string(), false),
            Literal::Text(s) => Node::new_scalar(s.clone(), true),
            Literal::Table(table) => mapping(
                table
                    .iter()
                    .map(|(name, items)| {
                        let items = items
                            .iter()
                            .map(|i| Node::new_scalar(i.clone(), true))
                            .collect();
                        let list = Node::new(NodeKind::Sequence {
                            style: CollectionStyle::Flow,
                            items,
                        });
                        (name.as_str(), list)
                    })
                    .collect(),
            ),
        }
    }

    /// The value as a manifest would show it.
    pub fn display(&self) -> String {
        match self {
            Literal::Bool(b) => b.to_string(),
            Literal::Int(i) => i.to_string(),
            Literal::Text(s) => s.clone(),
            Literal::Table(table) => {
                let entries: Vec<String> = table
                    .iter()
                    .map(|(name, items)| format!("{name}: [{}]", items.join(", ")))
                    .collect();
                format!("{{{}}}", entries.join(", "))
            }
        }
    }

    /// What kind of value it is, for messages: values of one kind may replace each other.
    pub fn kind(&self) -> &'static str {
        match self {
            Literal::Bool(_) => "true or false",
            Literal::Int(_) | Literal::Text(_) => "a value",
            Literal::Table(_) => "a table `name: [item, …]`",
        }
    }
}

/// A new mapping node from `key: value` pairs, for the items custom steps add.
pub(crate) fn mapping(entries: Vec<(&str, Node<'static>)>) -> Node<'static> {
    Node::new(NodeKind::Mapping {
        style: CollectionStyle::Block,
        entries: entries
            .into_iter()
            .map(|(k, v)| (Node::new_scalar(k.to_owned(), true), v))
            .collect(),
    })
}

/// A manifest before and after a transform.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    /// The options the example runs with, for a transform that does nothing without them.
    #[serde(default)]
    pub options: BTreeMap<String, Literal>,
    /// The input.
    pub before: String,
    /// What the transform alone makes of it.
    pub after: String,
}

/// The option that makes a transform fix what evidence of need would keep.
const IGNORE_EVIDENCE: &str = "ignore-evidence";

/// Every declared transform, in the order they are applied.
pub fn all() -> &'static [Transform] {
    static ALL: OnceLock<Vec<Transform>> = OnceLock::new();
    ALL.get_or_init(|| {
        DECLARATIONS
            .iter()
            .map(|(id, text)| {
                let transform: Transform = serde_saphyr::from_str(text).unwrap_or_else(|e| {
                    panic!("transforms/{id}.yaml is not a valid declaration: {e}")
                });
                if let Err(problem) = transform.check(id) {
                    panic!("transforms/{id}.yaml: {problem}");
                }
                transform
            })
            .collect()
    })
}

/// The transform called `id`.
pub fn find(id: &str) -> Option<&'static Transform> {
    all().iter().find(|t| t.id == id)
}

impl Transform {
    /// Checks what the type system cannot: the file name, one action per rule, known custom
    /// steps and options.
    fn check(&self, file_id: &str) -> Result<(), String> {
        if self.id != file_id {
            return Err(format!("declares the id `{}`", self.id));
        }
        for entry in &self.image_writes {
            knowledge::check_writes(&crate::k8s::image::listed(&entry.images), &entry.writes)?;
        }
        if self.new_file != self.rules.is_empty() {
            return Err("a transform has rules, or writes a new file (`new-file: true`)".into());
        }
        for (i, rule) in self.rules.iter().enumerate() {
            match rule.actions().count() {
                1 => {}
                n => {
                    return Err(format!(
                        "rule {} has {n} actions; it needs exactly one",
                        i + 1
                    ));
                }
            }
            if let Some(step) = &rule.custom {
                if !custom::STEPS.contains(&step.as_str()) {
                    return Err(format!(
                        "rule {} names the unknown custom step `{step}`",
                        i + 1
                    ));
                }
            } else if rule.path.is_empty() {
                return Err(format!("rule {} has no path", i + 1));
            }
            if !rule.skip_when.is_empty() && rule.set.is_none() {
                return Err(format!("rule {}: skip-when goes with set", i + 1));
            }
            if let Some(option) = &rule.when_option
                && !self.options.iter().any(|o| &o.name == option)
            {
                return Err(format!(
                    "rule {} names the undeclared option `{option}`",
                    i + 1
                ));
            }
            if rule.keep_with_evidence.is_some() {
                if rule.set.is_none()
                    && rule.remove_items.is_none()
                    && rule.keep_only_items.is_none()
                {
                    return Err(format!(
                        "rule {}: keep-with-evidence goes with set, remove-items or keep-only-items",
                        i + 1
                    ));
                }
                if !self.options.iter().any(|o| o.name == IGNORE_EVIDENCE) {
                    return Err(format!(
                        "rule {} keeps values with evidence but the option `{IGNORE_EVIDENCE}` is not declared",
                        i + 1
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether evidence of need keeps nothing for this transform: profile strict, or its option
    /// `ignore-evidence`.
    pub fn ignores_evidence(&self, settings: &Settings) -> bool {
        settings.profile == Profile::Strict
            || self.option(settings, IGNORE_EVIDENCE) == Some(Literal::Bool(true))
    }

    /// The value of option `name`: from `settings`, or the declared default.
    pub fn option(&self, settings: &Settings, name: &str) -> Option<Literal> {
        let declared = self.options.iter().find(|o| o.name == name)?;
        let configured = settings.options.get(&self.id).and_then(|o| o.get(name));
        configured.or(declared.default.as_ref()).cloned()
    }
}

/// Which transforms run, in which profile, with which options.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The profile; rules marked for another profile stand aside.
    pub profile: Profile,
    /// The transforms that run, in declaration order.
    pub transforms: Vec<&'static Transform>,
    /// Option values by transform id and option name.
    pub options: BTreeMap<String, BTreeMap<String, Literal>>,
    /// Readers of secret files a configuration adds to the table of `secrets-as-files`.
    pub secret_readers: Vec<SecretReader>,
    /// Kinds holding a pod spec that a configuration declares, besides the built-in ones.
    pub kinds: Vec<crate::k8s::DeclaredKind>,
    /// The RoleBindings and ClusterRoleBindings of the run's files, which a role's findings
    /// name when they grant it from another file.
    pub bindings: Arc<[FileBinding]>,
}

impl Settings {
    /// The transforms of `profile` (or those in `only`, whatever their profile, when it is not
    /// empty), less those in `skip`. An unknown id is an error that lists the known ones.
    pub fn new(profile: Profile, only: &[String], skip: &[String]) -> Result<Settings, String> {
        for id in only.iter().chain(skip) {
            if find(id).is_none() {
                return Err(unknown_transform(id));
            }
        }
        let mut settings = Settings::of_profile(profile);
        if !only.is_empty() {
            // Named transforms run whatever their profile.
            settings.transforms = all().iter().filter(|t| only.contains(&t.id)).collect();
        }
        settings.transforms.retain(|t| !skip.contains(&t.id));
        Ok(settings)
    }

    /// Every transform of `profile`, with default options.
    pub fn of_profile(profile: Profile) -> Settings {
        let transforms = all().iter().filter(|t| t.profile <= profile).collect();
        Settings {
            profile,
            transforms,
            options: BTreeMap::new(),
            secret_readers: Vec::new(),
            kinds: Vec::new(),
            bindings: Arc::from([]),
        }
    }

    /// Only `transform`, as its example shows it (with the example's options), in the profile
    /// it belongs to (an opt-in one in the default profile).
    pub fn just(transform: &'static Transform) -> Settings {
        Settings {
            profile: match transform.profile {
                Profile::OptIn => Profile::Default,
                other => other,
            },
            transforms: vec![transform],
            options: BTreeMap::from([(transform.id.clone(), transform.example.options.clone())]),
            secret_readers: Vec::new(),
            kinds: Vec::new(),
            bindings: Arc::from([]),
        }
    }
}

impl Default for Settings {
    /// The default profile with default options.
    fn default() -> Self {
        Settings::of_profile(Profile::Default)
    }
}

/// The error for an unknown transform id, listing the known ones.
pub fn unknown_transform(id: &str) -> String {
    let known: Vec<&str> = all().iter().map(|t| t.id.as_str()).collect();
    format!(
        "unknown transform `{id}`; the transforms are: {}",
        known.join(", ")
    )
}
