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

/// The answer of the folder of each file of a list, asked once for each run of files of one
/// folder: a walk lists the files of a folder together, and asking the file system (or making
/// a path absolute, which asks it for the current folder) costs more than comparing two paths.
#[derive(Debug)]
pub struct SameFolder<T> {
    /// The folder of the last file, as its path names it, and its answer.
    last: Option<(PathBuf, T)>,
}

impl<T> Default for SameFolder<T> {
    fn default() -> Self {
        SameFolder { last: None }
    }
}

impl<T: Clone> SameFolder<T> {
    /// The answer of the folder of `file`: the last one's when the last file's path names the
    /// same folder, else `ask(file)`, which must depend only on the file's folder.
    pub fn answer(&mut self, file: &Path, ask: impl FnOnce(&Path) -> T) -> T {
        let folder = file.parent().unwrap_or(Path::new(""));
        if let Some((last, answer)) = &self.last
            && last.as_os_str() == folder.as_os_str()
        {
            return answer.clone();
        }
        let answer = ask(file);
        self.last = Some((folder.to_owned(), answer.clone()));
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_files_of_one_folder_is_answered_once() {
        let mut same = SameFolder::default();
        let mut asked = Vec::new();
        for file in [
            "a/1.yaml",
            "a/2.yaml",
            "a/b/3.yaml",
            "a/4.yaml",
            "5.yaml",
            "6.yaml",
        ] {
            let folder = same.answer(Path::new(file), |file| {
                asked.push(file.to_owned());
                file.parent().map(Path::to_path_buf)
            });
            assert_eq!(folder.as_deref(), Path::new(file).parent(), "{file}");
        }
        // `a` is asked again after `a/b`: only the last folder is remembered.
        assert_eq!(
            asked,
            ["a/1.yaml", "a/b/3.yaml", "a/4.yaml", "5.yaml"].map(PathBuf::from)
        );
    }
}
