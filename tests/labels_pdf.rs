//! Labels PDFs as a PDF reader sees them: rendered by poppler's `pdftoppm`, read by
//! `pdfinfo`, `pdffonts` and `pdftotext`. These tests need poppler-utils (and the DejaVu
//! fonts for the embedded-font test); `scripts/test.sh` installs both. When a tool is
//! missing they fail, saying so: they never skip.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sync1688::labels::{self, Label, LabelFont, LabelSize, Per};

const DEJAVU: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

fn label(sku: &str, name: &str, quantity: &str) -> Label {
    Label {
        merchant_sku: sku.to_owned(),
        name: name.to_owned(),
        quantity: quantity.parse().unwrap(),
        gtin: Some("6901234567892".to_owned()),
        caption: Some("PO-2024-0042".to_owned()),
    }
}

/// Runs a poppler tool; its stdout. It must succeed and say nothing on stderr (poppler
/// reports a malformed PDF there, even when it manages to render it).
fn poppler(tool: &str, args: &[&str]) -> String {
    let output = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!(
            "`{tool}` could not be run ({e}): the labels tests need poppler-utils; install it \
             (`apt-get install poppler-utils`, as scripts/test.sh does)"
        )
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{tool} {args:?} failed: {stderr}");
    assert!(
        stderr.trim().is_empty(),
        "{tool} {args:?} complained: {stderr}"
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A grayscale page as `pdftoppm -gray` writes it (binary PGM, 8 bits).
struct Gray {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Gray {
    fn read(path: &Path) -> Gray {
        let bytes = fs::read(path).unwrap();
        // "P5", width, height, maxval, each after whitespace; one whitespace byte, data.
        let mut fields = Vec::new();
        let mut i = 0;
        while fields.len() < 4 {
            while bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if bytes[i] == b'#' {
                while bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            let start = i;
            while !bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            fields.push(std::str::from_utf8(&bytes[start..i]).unwrap().to_owned());
        }
        assert_eq!(fields[0], "P5", "{}", path.display());
        assert_eq!(fields[3], "255", "{}", path.display());
        let (width, height) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
        let pixels = bytes[i + 1..].to_vec();
        assert_eq!(pixels.len(), width * height, "{}", path.display());
        Gray {
            width,
            height,
            pixels,
        }
    }

    fn row(&self, y: usize) -> &[u8] {
        &self.pixels[y * self.width..(y + 1) * self.width]
    }

    fn dark_share(&self) -> f64 {
        self.pixels.iter().filter(|&&p| p < 128).count() as f64 / self.pixels.len() as f64
    }
}

/// Writes `pdf` to `dir` and renders every page with `pdftoppm -gray -r DPI` (plus
/// `extra` options); the pages in order.
fn rasterize(pdf: &[u8], dpi: u32, extra: &[&str], dir: &Path) -> Vec<Gray> {
    let file = dir.join("labels.pdf");
    fs::write(&file, pdf).unwrap();
    let prefix = dir.join("page");
    let dpi = dpi.to_string();
    let mut args = vec!["-gray", "-r", &dpi];
    args.extend_from_slice(extra);
    args.extend([file.to_str().unwrap(), prefix.to_str().unwrap()]);
    poppler("pdftoppm", &args);
    let mut pages: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pgm"))
        .collect();
    pages.sort();
    pages.iter().map(|p| Gray::read(p)).collect()
}

/// `pdfinfo`'s value for `key`.
fn info(pdf: &[u8], dir: &Path, key: &str) -> String {
    let file = dir.join("info.pdf");
    fs::write(&file, pdf).unwrap();
    let out = poppler("pdfinfo", &[file.to_str().unwrap()]);
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in {out}"))
        .trim()
        .to_owned()
}

/// Every page: the label's size at `dpi` (pdftoppm rounds up), and ink on it.
fn assert_label_pages(pages: &[Gray], size: LabelSize, dpi: u32) {
    let expected = |pt: f32| pt * dpi as f32 / 72.0;
    for (i, page) in pages.iter().enumerate() {
        let (w, h) = (expected(size.width_pt()), expected(size.height_pt()));
        assert!(
            (page.width as f32 - w).abs() < 1.0 && (page.height as f32 - h).abs() < 1.0,
            "page {} is {}x{} px, not {w:.1}x{h:.1}",
            i + 1,
            page.width,
            page.height
        );
        let dark = page.dark_share();
        assert!(
            (0.05..0.6).contains(&dark),
            "page {}: {:.1}% dark pixels",
            i + 1,
            dark * 100.0
        );
    }
}

#[test]
fn per_unit_renders_a_label_per_unit() {
    let dir = tempfile::tempdir().unwrap();
    let labels = [
        label("CUP-350", "Ceramic mug 350 ml", "3"),
        label("TEA-1", "Green tea, 250 g", "1.5"),
        label("NONE", "Nothing received", "0"),
    ];
    let size = LabelSize::default();
    let pdf = labels::render(&labels, Per::Unit, size).unwrap();
    assert_eq!(info(&pdf, dir.path(), "Pages"), "5");
    assert_eq!(info(&pdf, dir.path(), "Page size"), "141.732 x 85.0394 pts");
    let pages = rasterize(&pdf, 100, &[], dir.path());
    assert_eq!(pages.len(), 5);
    assert_label_pages(&pages, size, 100);
    // The three labels of a line are the same.
    assert_eq!(pages[0].pixels, pages[2].pixels);
    assert_ne!(pages[2].pixels, pages[3].pixels);
}

#[test]
fn per_line_renders_a_label_per_line_at_the_configured_size() {
    let dir = tempfile::tempdir().unwrap();
    let labels = [
        label("CUP-350", "Ceramic mug 350 ml", "3"),
        label("TEA-1", "Green tea, 250 g", "1.5"),
        label("NONE", "Nothing received", "0"),
    ];
    let size = LabelSize {
        width_mm: 60.0,
        height_mm: 40.0,
    };
    let pdf = labels::render(&labels, Per::Line, size).unwrap();
    assert_eq!(info(&pdf, dir.path(), "Pages"), "2");
    let pages = rasterize(&pdf, 100, &[], dir.path());
    assert_eq!(pages.len(), 2);
    assert_label_pages(&pages, size, 100);

    let file = dir.path().join("text.pdf");
    fs::write(&file, &pdf).unwrap();
    let text = poppler("pdftotext", &[file.to_str().unwrap(), "-"]);
    for expected in [
        "Ceramic mug 350 ml",
        "CUP-350",
        "Qty 3",
        "Qty 1.5",
        "PO-2024-0042",
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text}");
    }
    assert!(!text.contains("NONE"));
}

/// The bars as rendered, read back along the row crossing most of them, are the Code 128
/// pattern of the SKU: the same bar and space widths, in modules.
#[test]
fn the_rendered_bars_are_the_code128_pattern() {
    for sku in ["SKU-1", "AB12345678", "Zz-09"] {
        let dir = tempfile::tempdir().unwrap();
        // Nothing but the bars crosses as many edges as they do.
        let plain = Label {
            gtin: None,
            caption: None,
            ..label(sku, "", "1")
        };
        let pdf = labels::render(&[plain], Per::Line, LabelSize::default());
        let pages = rasterize(
            &pdf.unwrap(),
            600,
            &["-aa", "no", "-aaVector", "no"],
            dir.path(),
        );
        assert_eq!(pages.len(), 1);
        let page = &pages[0];
        let transitions = |row: &[u8]| {
            row.windows(2)
                .filter(|w| (w[0] < 128) != (w[1] < 128))
                .count()
        };
        let y = (0..page.height)
            .max_by_key(|&y| transitions(page.row(y)))
            .unwrap();
        let row: Vec<u8> = page.row(y).iter().map(|&p| u8::from(p < 128)).collect();
        let first = row.iter().position(|&b| b == 1).unwrap();
        let last = row.iter().rposition(|&b| b == 1).unwrap();
        let bars = &row[first..=last];

        let pattern = labels::code128_modules(sku).unwrap();
        let module = bars.len() as f64 / pattern.len() as f64;
        assert!(module > 5.0, "{sku}: {module:.1} px per module");
        // Quiet zones: ten modules of white on each side (to a pixel or two).
        let quiet = 10.0 * module - 2.0;
        assert!(first as f64 >= quiet, "{sku}: left quiet zone {first} px");
        let right = row.len() - 1 - last;
        assert!(right as f64 >= quiet, "{sku}: right quiet zone {right} px");

        let runs = |v: &[u8]| {
            let mut out = Vec::new();
            let mut i = 0;
            while i < v.len() {
                let n = v[i..].iter().take_while(|&&b| b == v[i]).count();
                out.push(n);
                i += n;
            }
            out
        };
        let rendered: Vec<usize> = runs(bars)
            .iter()
            .map(|&px| (px as f64 / module).round() as usize)
            .collect();
        assert_eq!(rendered, runs(&pattern), "{sku}: {module:.2} px per module");
    }
}

/// With a font, names the built-in font cannot show are printed, embedded as a subset.
#[test]
fn an_embedded_font_prints_names_beyond_ascii() {
    assert!(
        Path::new(DEJAVU).exists(),
        "{DEJAVU} is missing: the labels tests need the DejaVu fonts (`apt-get install \
         fonts-dejavu-core`, as scripts/test.sh does)"
    );
    let font = LabelFont::from_file(Path::new(DEJAVU)).unwrap();
    let name = "Чашка Ωmega café";
    let labels = [label("CUP-350", name, "2")];
    assert!(labels::needs_font(&labels));
    assert!(font.covers(name));

    let dir = tempfile::tempdir().unwrap();
    let size = LabelSize::default();
    let pdf = labels::render_with_font(&labels, Per::Line, size, Some(&font)).unwrap();
    assert!(
        pdf.len() < 60_000,
        "a subset, not the whole font: {} bytes",
        pdf.len()
    );
    let file = dir.path().join("font.pdf");
    fs::write(&file, &pdf).unwrap();
    let fonts = poppler("pdffonts", &[file.to_str().unwrap()]);
    let dejavu = fonts
        .lines()
        .find(|l| l.contains("+DejaVuSans"))
        .expect(&fonts);
    assert!(dejavu.contains("CID TrueType"), "{fonts}");
    assert!(
        dejavu.contains("yes yes yes"),
        "embedded, subset, unicode: {fonts}"
    );
    let text = poppler("pdftotext", &[file.to_str().unwrap(), "-"]);
    assert!(text.contains(name), "{name:?} not in {text}");
    let pages = rasterize(&pdf, 100, &[], dir.path());
    assert_eq!(pages.len(), 1);
    assert_label_pages(&pages, size, 100);

    // Without it, the same name loses what Helvetica cannot show.
    let pdf = labels::render(&labels, Per::Line, size).unwrap();
    fs::write(&file, &pdf).unwrap();
    let text = poppler("pdftotext", &[file.to_str().unwrap(), "-"]);
    assert!(text.contains("? ?mega caf?"), "{text}");

    let err = LabelFont::from_file(&dir.path().join("labels.pdf")).unwrap_err();
    assert!(err.to_string().contains("labels.pdf"), "{err}");
}
