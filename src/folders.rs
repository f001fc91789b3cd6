//! Questions every file of a folder shares the answer of, asked of the file system once per
//! folder: which folder up from one holds something (a configuration file, a `.git`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What one folder tells a search going up from a folder below it.
pub enum Look<T> {
    /// The answer is here.
    Found(T),
    /// The search ends here without an answer.
    Stop,
    /// Nothing here: ask the folder above.
    Up,
}

/// The nearest answer up the ancestors of folders, each folder's answer remembered for the
/// next search that passes it: the files of one folder, and the folders of one tree, ask
/// the file system about each folder once.
#[derive(Debug)]
pub struct Nearest<T> {
    /// What a folder holds, asked of the file system.
    look: fn(&Path) -> Look<T>,
    /// The answer of each folder looked at, or found on the way up from it (none: the search
    /// stopped, or reached the root, without one).
    answers: HashMap<PathBuf, Option<T>>,
}

impl<T: Clone> Nearest<T> {
    /// Searches asking `look` of each folder.
    pub fn new(look: fn(&Path) -> Look<T>) -> Self {
        Nearest {
            look,
            answers: HashMap::new(),
        }
    }

    /// The answer of the first folder from `folder` (an absolute path) up that has one; none
    /// when a folder stops the search or the root is passed without one.
    pub fn from(&mut self, folder: &Path) -> Option<T> {
        let mut looked_at = Vec::new();
        let mut found = None;
        for folder in folder.ancestors() {
            if let Some(known) = self.answers.get(folder) {
                found = known.clone();
                break;
            }
            looked_at.push(folder);
            match (self.look)(folder) {
                Look::Found(answer) => {
                    found = Some(answer);
                    break;
                }
                Look::Stop => break,
                Look::Up => {}
            }
        }
        for folder in looked_at {
            self.answers.insert(folder.to_owned(), found.clone());
        }
        found
    }

    /// How many folders have been looked at.
    #[cfg(test)]
    pub fn folders_known(&self) -> usize {
        self.answers.len()
    }
}
