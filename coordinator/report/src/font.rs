//! The one font plot labels are laid out and drawn with.
//!
//! plotters measures text to lay out axes (for SVG too) and rasterizes it for PNG, so it needs
//! a TrueType font. Rather than compile one in, the first plot loads one from the system:
//! `SEBS_PLOT_FONT` if set, else a sans-serif font at the usual Linux and macOS paths, else what
//! fontconfig's `fc-match` names. Without any, plotting fails with [`PlotError::NoFont`] and the
//! experiments still write their tables and CSV files.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::style::{register_font, FontStyle};

use crate::PlotError;

/// The family name charts ask for.
pub const FAMILY: &str = "sans-serif";

const CANDIDATES: [&str; 8] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
];

static LOADED: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// Registers the font once per process; returns the file it came from.
pub fn ensure() -> Result<&'static Path, PlotError> {
    let loaded = LOADED.get_or_init(|| {
        let Some(path) = find() else {
            return Err(String::new());
        };
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        // plotters keeps fonts for the life of the process; so does this one, loaded once.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        register_font(FAMILY, FontStyle::Normal, bytes)
            .map_err(|_| format!("{} is not a TrueType font", path.display()))?;
        Ok(path)
    });
    match loaded {
        Ok(path) => Ok(path),
        Err(reason) if reason.is_empty() => Err(PlotError::NoFont),
        Err(reason) => Err(PlotError::BadFont(reason.clone())),
    }
}

fn find() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SEBS_PLOT_FONT") {
        return Some(PathBuf::from(path));
    }
    if let Some(path) = CANDIDATES.iter().map(Path::new).find(|p| p.is_file()) {
        return Some(path.to_path_buf());
    }
    let out = std::process::Command::new("fc-match")
        .args(["-f", "%{file}", "sans-serif:fontformat=TrueType"])
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    path.is_file().then_some(path)
}
