//! Looking at pictures in tests: decode a PNG and count its pixels by color, and take a
//! screenshot of a page with headless Chromium, so that a test checks what was drawn rather than
//! that a file exists.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A decoded image, as RGB pixels (alpha dropped).
#[derive(Debug)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pixels: Vec<[u8; 3]>,
}

impl Picture {
    /// Decodes a PNG; panics naming the file if it is not one.
    pub fn load(path: &Path) -> Picture {
        let file = std::fs::File::open(path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder
            .read_info()
            .unwrap_or_else(|e| panic!("{} is not a PNG: {e}", path.display()));
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader
            .next_frame(&mut buf)
            .unwrap_or_else(|e| panic!("cannot decode {}: {e}", path.display()));
        let channels = info.color_type.samples();
        let pixels = buf[..info.buffer_size()]
            .chunks_exact(channels)
            .map(|p| match channels {
                1 | 2 => [p[0], p[0], p[0]],
                _ => [p[0], p[1], p[2]],
            })
            .collect();
        Picture {
            width: info.width,
            height: info.height,
            pixels,
        }
    }

    /// Pixels within `tolerance` of `color` in every channel.
    pub fn count_near(&self, color: [u8; 3], tolerance: u8) -> usize {
        self.pixels
            .iter()
            .filter(|p| (0..3).all(|i| p[i].abs_diff(color[i]) <= tolerance))
            .count()
    }

    /// Pixels that are not (nearly) white.
    pub fn count_ink(&self) -> usize {
        self.pixels
            .iter()
            .filter(|p| p.iter().any(|&c| c < 235))
            .count()
    }
}

/// Headless Chromium (Debian's `chromium`), or `None` when the test should be skipped.
#[must_use]
pub fn chromium() -> Option<PathBuf> {
    crate::require("chromium", "Debian: apt-get install chromium")
}

/// Renders `page` (a local HTML file) in headless Chromium at `width`×`height` CSS pixels and
/// writes a PNG screenshot to `out`. Chromium runs with a fresh profile and without background
/// networking (which a closed network refuses), and is killed after a minute.
pub fn screenshot(chromium: &Path, page: &Path, out: &Path, width: u32, height: u32) {
    let profile = tempfile::tempdir().expect("a profile folder");
    let page = page.canonicalize().expect("the page exists");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", out.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium took more than a minute to screenshot {}",
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    assert!(
        status.success() && out.is_file(),
        "chromium failed ({status}) to screenshot {}:\n{stderr}",
        page.display()
    );
}
