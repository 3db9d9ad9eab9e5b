//! The files of an access repository that gitgrant reads — `gitgrant.yaml` and
//! everything under `grants/` — as bytes, whether they come from a working
//! tree or (in the git adapter) from the object database at a commit.

use std::io;
use std::path::Path;

/// Where the policy lives in the access repository.
pub const POLICY_PATH: &str = "gitgrant.yaml";

/// Files larger than this are rejected without being read.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;

/// What a path holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Content {
    /// A regular file's bytes (at most [`MAX_FILE_BYTES`]).
    Bytes(Vec<u8>),
    /// A symbolic link, never followed.
    Symlink,
    /// A regular file over [`MAX_FILE_BYTES`], not read.
    TooLarge(u64),
}

/// One file of an access repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceFile {
    /// Path relative to the repository's top, with `/` separators.
    pub path: String,
    /// What it holds.
    pub content: Content,
}

/// The files gitgrant reads from one state of an access repository.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// `gitgrant.yaml`, if present.
    pub policy: Option<SourceFile>,
    /// Every file under `grants/`, sorted by path.
    pub grants: Vec<SourceFile>,
}

/// Files under `grants/` that are not grants and are passed over.
pub fn is_placeholder(path: &str) -> bool {
    path.rsplit('/').next() == Some(".gitkeep")
}

impl Snapshot {
    /// Reads a working tree or plain directory. Symlinks are recorded, not
    /// followed; files over the size limit are not read.
    pub fn from_dir(dir: &Path) -> io::Result<Snapshot> {
        if !std::fs::metadata(dir)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        let policy = match read_one(dir, POLICY_PATH) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let mut grants = Vec::new();
        let root = dir.join("grants");
        match std::fs::symlink_metadata(&root) {
            Ok(m) if m.is_dir() => walk(dir, "grants", &mut grants)?,
            Ok(_) => grants.push(read_one(dir, "grants")?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        grants.retain(|f| !is_placeholder(&f.path));
        grants.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Snapshot { policy, grants })
    }

    /// Every file, policy first.
    pub fn files(&self) -> impl Iterator<Item = &SourceFile> {
        self.policy.iter().chain(&self.grants)
    }
}

fn walk(top: &Path, rel: &str, out: &mut Vec<SourceFile>) -> io::Result<()> {
    for entry in std::fs::read_dir(top.join(rel))? {
        let entry = entry?;
        let name = entry.file_name();
        let child = format!("{rel}/{}", name.to_string_lossy());
        if entry.file_type()?.is_dir() {
            walk(top, &child, out)?;
        } else {
            out.push(read_one(top, &child)?);
        }
    }
    Ok(())
}

fn read_one(top: &Path, rel: &str) -> io::Result<SourceFile> {
    let full = top.join(rel);
    let meta = std::fs::symlink_metadata(&full)?;
    let content = if meta.file_type().is_symlink() {
        Content::Symlink
    } else if meta.len() > MAX_FILE_BYTES {
        Content::TooLarge(meta.len())
    } else {
        Content::Bytes(std::fs::read(&full)?)
    };
    Ok(SourceFile {
        path: rel.to_string(),
        content,
    })
}
