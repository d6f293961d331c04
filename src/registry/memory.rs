//! A registry held in memory, for unit tests of what runs through the
//! [`Registry`] trait (platform verification, prune's execution) without
//! HTTP. It answers from its repositories, records every question and every
//! deletion, and can be told to refuse deletions or to watch each one.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{
    DeleteOutcome, Registry, RegistryError, RegistryRepo, RepositoryList, Stats, TagQuery,
};
use crate::inventory::Tag;
use crate::platform::Platform;

/// Called with (repository, tag) as each deletion arrives, before it applies.
pub type DeleteHook = Box<dyn Fn(&str, &str) + Send + Sync>;

#[derive(Default)]
pub struct MemoryRegistry {
    /// Repository → its tags.
    repos: Mutex<BTreeMap<String, Vec<Tag>>>,
    /// (repository, reference) → platforms, for `manifest_platforms`.
    manifests: HashMap<(String, String), Vec<Platform>>,
    /// `manifest_platforms` fails for this reference.
    failing_reference: Option<String>,
    /// Every deletion refused with this HTTP status.
    refuse_deletes: Option<u16>,
    on_delete: Option<DeleteHook>,
    /// Every question, as `method repository reference`.
    asked: Mutex<Vec<String>>,
    deleted: Mutex<Vec<(String, String)>>,
}

impl MemoryRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `repo` with these tags.
    pub fn repo(self, repo: &str, tags: Vec<Tag>) -> Self {
        self.repos.lock().unwrap().insert(repo.to_string(), tags);
        self
    }

    /// The manifest `reference` of `repo` carries these platforms.
    pub fn manifest(mut self, repo: &str, reference: &str, platforms: &[&str]) -> Self {
        let list = platforms
            .iter()
            .map(|p| Platform::parse_loose(p).expect("a platform"))
            .collect();
        self.manifests
            .insert((repo.to_string(), reference.to_string()), list);
        self
    }

    /// `manifest_platforms` of `reference` fails (the registry is down).
    pub fn failing_manifest(mut self, reference: &str) -> Self {
        self.failing_reference = Some(reference.to_string());
        self
    }

    /// Every deletion is refused with `status` (403: no delete permission).
    pub fn refusing_deletes(mut self, status: u16) -> Self {
        self.refuse_deletes = Some(status);
        self
    }

    pub fn on_delete(mut self, hook: DeleteHook) -> Self {
        self.on_delete = Some(hook);
        self
    }

    /// Replaces (or adds) `tag` in `repo`, as a push does.
    pub fn push(&self, repo: &str, tag: Tag) {
        let mut repos = self.repos.lock().unwrap();
        let tags = repos.entry(repo.to_string()).or_default();
        tags.retain(|t| t.name != tag.name);
        tags.push(tag);
    }

    /// Every question so far, as `method repository reference`, sorted.
    pub fn asked(&self) -> Vec<String> {
        let mut asked = self.asked.lock().unwrap().clone();
        asked.sort();
        asked
    }

    /// Every deletion applied, in order.
    pub fn deleted(&self) -> Vec<(String, String)> {
        self.deleted.lock().unwrap().clone()
    }

    fn ask(&self, method: &str, repo: &str, reference: &str) {
        self.asked
            .lock()
            .unwrap()
            .push(format!("{method} {repo} {reference}"));
    }
}

#[async_trait]
impl Registry for MemoryRegistry {
    fn name(&self) -> String {
        "memory".into()
    }

    async fn list_repositories(&self) -> Result<RepositoryList, RegistryError> {
        Ok(RepositoryList {
            repositories: self
                .repos
                .lock()
                .unwrap()
                .keys()
                .map(|name| RegistryRepo {
                    name: name.clone(),
                    private: None,
                    last_updated: None,
                })
                .collect(),
            complete: true,
        })
    }

    async fn list_tags(
        &self,
        repo: &str,
        _query: &TagQuery<'_>,
    ) -> Result<Option<Vec<Tag>>, RegistryError> {
        self.ask("list", repo, "");
        Ok(self.repos.lock().unwrap().get(repo).cloned())
    }

    async fn get_tag(&self, repo: &str, tag: &str) -> Result<Option<Tag>, RegistryError> {
        self.ask("get", repo, tag);
        Ok(self
            .repos
            .lock()
            .unwrap()
            .get(repo)
            .and_then(|tags| tags.iter().find(|t| t.name == tag).cloned()))
    }

    async fn manifest_platforms(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Vec<Platform>>, RegistryError> {
        self.ask("manifest", repo, reference);
        if self.failing_reference.as_deref() == Some(reference) {
            return Err(RegistryError::Refused("the registry is down".into()));
        }
        Ok(self
            .manifests
            .get(&(repo.to_string(), reference.to_string()))
            .cloned())
    }

    async fn delete_tag(&self, repo: &str, tag: &str) -> Result<DeleteOutcome, RegistryError> {
        self.ask("delete", repo, tag);
        if let Some(hook) = &self.on_delete {
            hook(repo, tag);
        }
        if let Some(status) = self.refuse_deletes {
            return Err(RegistryError::Status {
                method: "DELETE".into(),
                url: format!("memory://{repo}/tags/{tag}"),
                status,
                message: Some("no delete permission".into()),
                hint: None,
            });
        }
        let mut repos = self.repos.lock().unwrap();
        let Some(tags) = repos.get_mut(repo) else {
            return Ok(DeleteOutcome::AlreadyGone);
        };
        let before = tags.len();
        tags.retain(|t| t.name != tag);
        if tags.len() == before {
            return Ok(DeleteOutcome::AlreadyGone);
        }
        self.deleted
            .lock()
            .unwrap()
            .push((repo.to_string(), tag.to_string()));
        Ok(DeleteOutcome::Deleted)
    }

    fn stats(&self) -> Stats {
        Stats::default()
    }
}
