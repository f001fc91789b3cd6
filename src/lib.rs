//! kubeharden: hardens Kubernetes manifests with minimal, format-preserving edits.
//!
//! The data flows one way: read → index → plan → edit → verify → emit. [`yaml`] is the lossless
//! layer, [`k8s`] finds pod specs and containers, [`transform`] reads the declared transforms and
//! plans their edits, [`config`] reads `.kubeharden.yaml` (found with [`folders`]), [`fix`] runs
//! the pipeline on one input, [`source`] on rendered sources (Helm charts), and [`cli`] on many.
//! [`report`] hands a run on as JSON or a pull-request body, and [`pr`] talks to git and GitHub
//! for `kubeharden pr`.

pub mod cli;
pub mod config;
pub mod fix;
pub mod folders;
pub mod k8s;
pub mod pr;
pub mod report;
pub mod source;
pub mod transform;
pub mod yaml;
