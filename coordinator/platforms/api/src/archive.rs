//! Zip archives of built packages, as the clouds take code (Lambda's deployment zip, Azure's zip
//! deploy, Cloud Functions' source upload).
//!
//! Entries are in sorted path order with a fixed timestamp, so the same files give the same
//! bytes. Executable files keep their executable bit. Symbolic links are followed (npm's
//! `node_modules/.bin` links become copies of their scripts); links to folders and broken links
//! are left out.

use std::fs;
use std::io::{self, Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Zips every file under `dir`. `place` maps a file's path relative to `dir` to its path in the
/// archive, or `None` to leave it out; `extra` adds generated files (path in the archive,
/// content), which replace a file of the same path.
pub fn zip_tree(
    dir: &Path,
    place: impl Fn(&Path) -> Option<PathBuf>,
    extra: &[(&str, Vec<u8>)],
) -> io::Result<Vec<u8>> {
    Ok(write_zip_tree(dir, place, extra, io::Cursor::new(Vec::new()))?.into_inner())
}

/// [`zip_tree`] written to `out` (a file, for archives too large to hold in memory), which is
/// returned once the archive is complete.
pub fn write_zip_tree<W: Write + Seek>(
    dir: &Path,
    place: impl Fn(&Path) -> Option<PathBuf>,
    extra: &[(&str, Vec<u8>)],
    out: W,
) -> io::Result<W> {
    let mut entries: Vec<(String, PathBuf)> = Vec::new();
    for rel in files(dir)? {
        if let Some(target) = place(&rel) {
            let name = target.to_string_lossy().replace('\\', "/");
            if !extra.iter().any(|(path, _)| *path == name) {
                entries.push((name, dir.join(&rel)));
            }
        }
    }
    entries.sort();
    let mut zip = ZipWriter::new(out);
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default());
    for (name, content) in extra {
        zip.start_file(*name, options.unix_permissions(0o644))
            .map_err(io::Error::other)?;
        zip.write_all(content)?;
    }
    for (name, path) in entries {
        let mode = fs::metadata(&path)?.permissions().mode();
        let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
        zip.start_file(name, options.unix_permissions(mode))
            .map_err(io::Error::other)?;
        io::copy(&mut fs::File::open(&path)?, &mut zip)?;
    }
    zip.finish().map_err(io::Error::other)
}

/// The files [`zip_tree`] takes from `dir` (following links to files), relative to it.
pub fn files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let path = entry?.path();
            match fs::metadata(&path) {
                Ok(m) if m.is_dir() && !fs::symlink_metadata(&path)?.is_symlink() => {
                    stack.push(path)
                }
                Ok(m) if m.is_file() => {
                    if let Ok(rel) = path.strip_prefix(dir) {
                        out.push(rel.to_path_buf());
                    }
                }
                // Links to folders and broken links.
                _ => {}
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_files_adds_generated_ones_and_is_reproducible() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        fs::create_dir_all(d.join("pkg/sub")).unwrap();
        fs::write(d.join("pkg/a.txt"), "a").unwrap();
        fs::write(d.join("pkg/sub/b.sh"), "#!/bin/sh").unwrap();
        fs::set_permissions(d.join("pkg/sub/b.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(d.join("pkg/skip.pyc"), "x").unwrap();
        fs::write(d.join("pkg/host.json"), "old").unwrap();
        std::os::unix::fs::symlink("sub/b.sh", d.join("pkg/link")).unwrap();
        std::os::unix::fs::symlink("sub", d.join("pkg/dirlink")).unwrap();
        std::os::unix::fs::symlink("missing", d.join("pkg/broken")).unwrap();
        let place = |rel: &Path| {
            (rel.extension().is_none_or(|e| e != "pyc")).then(|| Path::new("root").join(rel))
        };
        let extra = [("root/host.json", b"new".to_vec())];
        let bytes = zip_tree(&d.join("pkg"), place, &extra).unwrap();
        assert_eq!(bytes, zip_tree(&d.join("pkg"), place, &extra).unwrap());

        let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes)).unwrap();
        let mut names: Vec<String> = (0..archive.len())
            .map(|i| archive.by_index(i).unwrap().name().unwrap().to_string())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["root/a.txt", "root/host.json", "root/link", "root/sub/b.sh"]
        );
        let mut host = String::new();
        io::Read::read_to_string(&mut archive.by_name("root/host.json").unwrap(), &mut host)
            .unwrap();
        assert_eq!(host, "new");
        assert_eq!(
            archive.by_name("root/sub/b.sh").unwrap().unix_mode(),
            Some(0o100755)
        );
    }
}
