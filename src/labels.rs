//! Printable labels for received goods: a PDF with one label per page, the page the size
//! of a thermal label (50 x 30 mm unless configured otherwise), ready for a label printer.
//!
//! Each label carries, top to bottom: the merchant SKU's name (up to two lines), its GTIN
//! when known, a Code 128 barcode of the merchant SKU with the SKU printed under it, and
//! a bottom row with the quantity on the left and the caption (a PO number, a receipt id)
//! on the right. On a short label the GTIN, then the name's second line, then the name
//! give way so that the barcode keeps a scannable height.
//!
//! # How many labels
//!
//! [`Per::Line`]: one label per line, printed with its quantity. [`Per::Unit`]: one label
//! per received unit, each printed with quantity 1; **a fractional quantity is rounded
//! up** (2.5 units make 3 labels). A line with quantity 0 prints no label in either mode;
//! a negative quantity is an error. One PDF holds at most [`MAX_PAGES`] labels.
//!
//! # The barcode
//!
//! Code 128 (ISO/IEC 15417), code sets B and C: runs of digits use the double-density
//! set C as the standard's minimal-length rules suggest, everything else set B. It
//! encodes printable ASCII only: a merchant SKU with any other character, an empty one,
//! or one too long to fit the label's width with bars at least [`MIN_MODULE_MM`] wide
//! (plus the ten-module quiet zone on each side) is a [`LabelError`] naming it. Bars are
//! filled rectangles; nothing is rasterised.
//!
//! # Text and fonts
//!
//! The SKU, the GTIN and the quantity are set in Helvetica, one of the PDF base-14 fonts
//! that every viewer and printer driver has, so no font is embedded for them (the SKU is
//! printable ASCII, or it could not be in the barcode). The name and the caption, which
//! on 1688 are often Chinese, are set:
//!
//! - **by default** in Helvetica too, which shows ASCII only: full-width forms (`（`, `１`,
//!   `Ａ`, the ideographic space) become their ASCII twins, each run of other characters
//!   becomes a single `?`, and a name left without any ASCII letter or digit is left off
//!   the label rather than printed as question marks. [`needs_font`] tells whether a set
//!   of labels would lose characters that way.
//! - **with a [`LabelFont`]** (a TrueType or OpenType file, or the first font of a
//!   collection, e.g. one named by a `labels.font_path` setting, passed to
//!   [`render_with_font`]) in that font, embedded as a subset holding only the glyphs
//!   used, so the PDF stays small even with a 20 MB CJK font. Characters the font lacks
//!   show as their ASCII twin for full-width forms, else as `?`. Text is not shaped: fine for
//!   Chinese, Japanese, Korean, Latin, Greek and Cyrillic, not for scripts that need
//!   shaping (Arabic, Indic).
//!
//! The binary carries no font file and reads none unless one is given.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::{fmt, fs};

use barcoders::sym::code128::Code128;
use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use subsetter::GlyphRemapper;

/// The most labels (pages) one PDF may hold.
pub const MAX_PAGES: usize = 10_000;

/// The narrowest bar (the X dimension) a barcode may have: 0.19 mm (7.5 mil), the usual
/// minimum for scanners in the field.
pub const MIN_MODULE_MM: f32 = 0.19;

/// The widest bar: a short SKU on a wide label is not drawn wider than this.
const MAX_MODULE_MM: f32 = 0.5;

/// The quiet zone on each side of the bars, in modules.
const QUIET_MODULES: usize = 10;

/// The smallest and largest label side accepted, in mm.
pub const MIN_WIDTH_MM: f32 = 25.0;
pub const MIN_HEIGHT_MM: f32 = 15.0;
pub const MAX_SIDE_MM: f32 = 500.0;

const PT_PER_MM: f32 = 72.0 / 25.4;

/// The bars are never shorter than this (5 mm) while text can give way.
const MIN_BAR_HEIGHT_PT: f32 = 5.0 * PT_PER_MM;

/// One label to print: a line of a receipt.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// Encoded in the barcode and printed under it.
    pub merchant_sku: String,
    pub name: String,
    pub quantity: Decimal,
    pub gtin: Option<String>,
    /// A short reference printed in a corner, e.g. the PO number or the receipt id.
    pub caption: Option<String>,
}

/// How many labels a line gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    /// One label per received unit, each with quantity 1 (a fractional quantity is
    /// rounded up).
    Unit,
    /// One label per line, with the line's quantity.
    Line,
}

/// The size of one label (and of each PDF page), in millimetres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelSize {
    pub width_mm: f32,
    pub height_mm: f32,
}

impl Default for LabelSize {
    /// 50 x 30 mm, a common thermal label.
    fn default() -> Self {
        LabelSize {
            width_mm: 50.0,
            height_mm: 30.0,
        }
    }
}

impl LabelSize {
    /// The width in PDF points (1/72 inch).
    pub fn width_pt(&self) -> f32 {
        self.width_mm * PT_PER_MM
    }

    /// The height in PDF points (1/72 inch).
    pub fn height_pt(&self) -> f32 {
        self.height_mm * PT_PER_MM
    }

    fn check(&self) -> Result<(), LabelError> {
        let ok = |v: f32, min: f32| v.is_finite() && (min..=MAX_SIDE_MM).contains(&v);
        if ok(self.width_mm, MIN_WIDTH_MM) && ok(self.height_mm, MIN_HEIGHT_MM) {
            Ok(())
        } else {
            Err(LabelError::InvalidSize {
                width_mm: self.width_mm,
                height_mm: self.height_mm,
            })
        }
    }
}

/// Why labels could not be made; nothing is written.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("no labels to print: every line has a quantity of 0")]
    Nothing,
    #[error(
        "label {position} ({name:?}) has an empty merchant SKU: there is nothing to put in its barcode"
    )]
    EmptySku { position: usize, name: String },
    #[error("merchant SKU {sku:?} cannot be encoded in a Code 128 barcode: {reason}")]
    UnencodableSku { sku: String, reason: String },
    #[error(
        "merchant SKU {sku:?} is too long for a barcode on a {width_mm} mm wide label \
         (it needs {needed_mm:.1} mm with bars {MIN_MODULE_MM} mm wide): use a wider label"
    )]
    SkuTooLong {
        sku: String,
        width_mm: f32,
        needed_mm: f32,
    },
    #[error("merchant SKU {sku:?} has a negative quantity ({quantity})")]
    NegativeQuantity { sku: String, quantity: Decimal },
    #[error(
        "{count} labels is more than one PDF may hold ({limit}): print one label per line, \
         or fewer lines at a time"
    )]
    TooManyLabels { count: Decimal, limit: usize },
    #[error(
        "label size {width_mm} x {height_mm} mm is not usable: the width must be \
         {MIN_WIDTH_MM} to {MAX_SIDE_MM} mm and the height {MIN_HEIGHT_MM} to {MAX_SIDE_MM} mm"
    )]
    InvalidSize { width_mm: f32, height_mm: f32 },
    #[error("font {origin}: {reason}")]
    Font { origin: String, reason: String },
}

/// A TrueType or OpenType font (`.ttf`, `.otf`, or the first face of a `.ttc`) for the
/// names and captions, embedded as a subset. Cheap to clone.
#[derive(Clone)]
pub struct LabelFont {
    data: Arc<[u8]>,
    origin: String,
    postscript_name: String,
}

impl fmt::Debug for LabelFont {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabelFont")
            .field("origin", &self.origin)
            .field("postscript_name", &self.postscript_name)
            .finish_non_exhaustive()
    }
}

impl LabelFont {
    /// Reads and checks a font file (e.g. a `labels.font_path` setting's).
    pub fn from_file(path: &Path) -> Result<Self, LabelError> {
        let origin = path.display().to_string();
        let data = fs::read(path).map_err(|e| LabelError::Font {
            origin: origin.clone(),
            reason: e.to_string(),
        })?;
        Self::parse(data, origin)
    }

    /// Checks a font held in memory.
    pub fn from_bytes(data: Vec<u8>) -> Result<Self, LabelError> {
        Self::parse(data, "(in memory)".to_owned())
    }

    fn parse(data: Vec<u8>, origin: String) -> Result<Self, LabelError> {
        let fail = |reason: String| LabelError::Font {
            origin: origin.clone(),
            reason,
        };
        let face = ttf_parser::Face::parse(&data, 0)
            .map_err(|e| fail(format!("not a TrueType or OpenType font ({e})")))?;
        let tables = face.tables();
        if tables.glyf.is_none() && tables.cff.is_none() {
            return Err(fail(
                "has neither TrueType (glyf) nor CFF outlines (CFF2 and bitmap-only fonts \
                 cannot be embedded)"
                    .to_owned(),
            ));
        }
        if tables.cmap.is_none() {
            return Err(fail("has no character map".to_owned()));
        }
        // What the subsetter cannot handle shows now rather than at the first print.
        subsetter::subset(&data, 0, &GlyphRemapper::new())
            .map_err(|e| fail(format!("cannot be embedded ({e})")))?;
        let postscript_name = face
            .names()
            .into_iter()
            .filter(|n| n.name_id == ttf_parser::name_id::POST_SCRIPT_NAME)
            .find_map(|n| n.to_string())
            .map(|n| {
                n.chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .take(63)
                    .collect::<String>()
            })
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "LabelFont".to_owned());
        Ok(LabelFont {
            data: data.into(),
            origin,
            postscript_name,
        })
    }

    /// Whether the font has a glyph for every character of `text` (spaces and control
    /// characters aside).
    pub fn covers(&self, text: &str) -> bool {
        let Ok(face) = ttf_parser::Face::parse(&self.data, 0) else {
            return false;
        };
        text.chars()
            .filter(|c| !c.is_whitespace() && !c.is_control())
            .all(|c| face.glyph_index(c).is_some())
    }
}

/// Whether the built-in font would lose characters of these labels' names or captions
/// (they are not ASCII, nor full-width forms of it): a reason to configure a font.
pub fn needs_font(labels: &[Label]) -> bool {
    labels.iter().any(|l| {
        std::iter::once(l.name.as_str())
            .chain(l.caption.as_deref())
            .any(|t| clean(t).chars().any(|c| to_ascii(c).is_none()))
    })
}

/// How many labels (pages) [`render`] makes of these.
pub fn page_count(labels: &[Label], per: Per) -> Result<usize, LabelError> {
    let mut total = Decimal::ZERO;
    for label in labels {
        total = total
            .checked_add(copies(label, per)?)
            .unwrap_or(Decimal::MAX);
    }
    match total.to_usize() {
        Some(n) if n <= MAX_PAGES => Ok(n),
        _ => Err(LabelError::TooManyLabels {
            count: total,
            limit: MAX_PAGES,
        }),
    }
}

/// The labels as a PDF, one label per page, each page `size` large. Names and captions
/// are set in the built-in font (ASCII only; see the module documentation).
pub fn render(labels: &[Label], per: Per, size: LabelSize) -> Result<Vec<u8>, LabelError> {
    render_with_font(labels, per, size, None)
}

/// [`render`], with names and captions set in `font` when one is given.
pub fn render_with_font(
    labels: &[Label],
    per: Per,
    size: LabelSize,
    font: Option<&LabelFont>,
) -> Result<Vec<u8>, LabelError> {
    size.check()?;
    let pages = page_count(labels, per)?;
    if pages == 0 {
        return Err(LabelError::Nothing);
    }
    let geometry = Geometry::new(size);
    let mut bars = Vec::with_capacity(labels.len());
    for (i, label) in labels.iter().enumerate() {
        if label.merchant_sku.trim().is_empty() {
            return Err(LabelError::EmptySku {
                position: i + 1,
                name: label.name.clone(),
            });
        }
        let modules = code128_modules(&label.merchant_sku)?;
        if geometry.module_width(modules.len()) < MIN_MODULE_MM * PT_PER_MM {
            let needed_mm = ((modules.len() + 2 * QUIET_MODULES) as f32 * MIN_MODULE_MM)
                .max(modules.len() as f32 * MIN_MODULE_MM + 2.0 * geometry.margin / PT_PER_MM);
            return Err(LabelError::SkuTooLong {
                sku: label.merchant_sku.clone(),
                width_mm: size.width_mm,
                needed_mm,
            });
        }
        bars.push(modules);
    }

    let mut fonts = Fonts::new(font)?;
    // One content stream per line: the labels of a line's units share it.
    let mut contents: Vec<(Vec<u8>, usize)> = Vec::new();
    for (label, modules) in labels.iter().zip(&bars) {
        let n = copies(label, per)?.to_usize().unwrap_or(0);
        if n == 0 {
            continue;
        }
        let quantity = match per {
            Per::Unit => "1".to_owned(),
            Per::Line => label.quantity.normalize().to_string(),
        };
        let content = draw_label(&geometry, &mut fonts, label, modules, &quantity);
        contents.push((content, n));
    }
    fonts.write_pdf(&geometry, &contents)
}

/// The number of labels of one line, before the page limit.
fn copies(label: &Label, per: Per) -> Result<Decimal, LabelError> {
    if label.quantity.is_sign_negative() && !label.quantity.is_zero() {
        return Err(LabelError::NegativeQuantity {
            sku: label.merchant_sku.clone(),
            quantity: label.quantity,
        });
    }
    Ok(match per {
        _ if label.quantity.is_zero() => Decimal::ZERO,
        Per::Unit => label.quantity.ceil(),
        Per::Line => Decimal::ONE,
    })
}

// ---------------------------------------------------------------------------------------
// Code 128

/// The bar pattern of `sku` in Code 128, one entry per module (1 a bar, 0 a space), from
/// the start character through the check character, the stop pattern and its final bar;
/// quiet zones not included.
pub fn code128_modules(sku: &str) -> Result<Vec<u8>, LabelError> {
    let unencodable = |reason: String| LabelError::UnencodableSku {
        sku: sku.to_owned(),
        reason,
    };
    if sku.is_empty() {
        return Err(unencodable("it is empty".to_owned()));
    }
    if let Some(c) = sku.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(unencodable(format!(
            "{c:?} is not a printable ASCII character"
        )));
    }
    Code128::new(code128_data(sku))
        .map(|code| code.encode())
        .map_err(|e| unencodable(e.to_string()))
}

/// The input `barcoders` wants for `sku` (printable ASCII): each code set named by its
/// marker (`Ɓ` set B, `Ć` set C), the first one standing for the start character.
///
/// Set C (two digits per character) starts the symbol when the data is two digits or
/// begins with four or more; from set B, a run of at least six digits (four at the end of
/// the data) switches to C, after its first digit when the run is odd; set C returns to B
/// when fewer than two digits follow.
fn code128_data(sku: &str) -> String {
    const SET_B: char = 'Ɓ';
    const SET_C: char = 'Ć';
    let bytes = sku.as_bytes();
    let digits_at = |i: usize| bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    let mut out = String::with_capacity(sku.len() + 4);
    let lead = digits_at(0);
    let mut in_c = (lead == 2 && bytes.len() == 2) || lead >= 4;
    out.push(if in_c { SET_C } else { SET_B });
    let mut i = 0;
    while i < bytes.len() {
        let run = digits_at(i);
        if in_c {
            if run >= 2 {
                out.push(bytes[i] as char);
                out.push(bytes[i + 1] as char);
                i += 2;
            } else {
                out.push(SET_B);
                in_c = false;
            }
        } else if run >= 6 || (run >= 4 && i + run == bytes.len()) {
            if run % 2 == 1 {
                out.push(bytes[i] as char);
                i += 1;
            }
            out.push(SET_C);
            in_c = true;
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Text

/// Helvetica's advance widths (1/1000 em) for ASCII 32..=126.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/// Helvetica-Bold's advance widths (1/1000 em) for ASCII 32..=126.
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667,
    611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556,
    278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];

/// The ellipsis in WinAnsiEncoding, 1000 units wide in both Helvetica weights.
const WIN_ANSI_ELLIPSIS: u16 = 0x85;

const REGULAR: Name = Name(b"F1");
const BOLD: Name = Name(b"F2");
const EMBEDDED: Name = Name(b"F3");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Face {
    Regular,
    Bold,
    Embedded,
}

/// One glyph of a line of text: its character, its code in the font's encoding (a byte
/// for Helvetica, a CID for the embedded font) and its advance in 1/1000 em.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Glyph {
    ch: char,
    code: u16,
    width: f32,
}

#[derive(Debug, Clone, PartialEq)]
struct Text {
    face: Face,
    glyphs: Vec<Glyph>,
    ellipsis: Vec<Glyph>,
}

impl Text {
    /// The width at `size` points.
    fn width(&self, size: f32) -> f32 {
        units(&self.glyphs) * size / 1000.0
    }

    /// The text cut to `max` points at `size`, with an ellipsis when cut.
    fn truncated(&self, size: f32, max: f32) -> Text {
        let mut lines = wrap(&self.glyphs, max * 1000.0 / size, 1, &self.ellipsis);
        Text {
            face: self.face,
            glyphs: lines.pop().unwrap_or_default(),
            ellipsis: self.ellipsis.clone(),
        }
    }
}

fn units(glyphs: &[Glyph]) -> f32 {
    glyphs.iter().map(|g| g.width).sum()
}

/// Whitespace and control characters as single spaces, trimmed.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// What Helvetica prints for `c`: ASCII as is, full-width forms as their ASCII twins.
fn to_ascii(c: char) -> Option<char> {
    match c {
        ' '..='~' => Some(c),
        '\u{3000}' => Some(' '),
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0),
        _ => None,
    }
}

/// `text` in Helvetica: characters it cannot show as `?`.
fn helvetica(text: &str, bold: bool) -> Text {
    let table = if bold { &HELVETICA_BOLD } else { &HELVETICA };
    let glyph = |c: char| {
        let c = if (' '..='~').contains(&c) { c } else { '?' };
        Glyph {
            ch: c,
            code: c as u16,
            width: f32::from(table[c as usize - 32]),
        }
    };
    Text {
        face: if bold { Face::Bold } else { Face::Regular },
        glyphs: text.chars().map(glyph).collect(),
        ellipsis: vec![Glyph {
            ch: '…',
            code: WIN_ANSI_ELLIPSIS,
            width: 1000.0,
        }],
    }
}

/// Breaks `glyphs` into at most `max_lines` lines of at most `max` units, at spaces or
/// next to CJK characters (anywhere in a word too long for a line); the last line ends
/// with `ellipsis` when text is left over.
fn wrap(glyphs: &[Glyph], max: f32, max_lines: usize, ellipsis: &[Glyph]) -> Vec<Vec<Glyph>> {
    let is_cjk = |c: char| c >= '\u{2E80}';
    let can_break_before = |i: usize| {
        let (a, b) = (glyphs[i - 1].ch, glyphs[i].ch);
        b == ' ' || a == ' ' || is_cjk(a) || is_cjk(b)
    };
    let mut lines = Vec::new();
    let mut start = 0;
    while lines.len() < max_lines {
        while start < glyphs.len() && glyphs[start].ch == ' ' {
            start += 1;
        }
        if start == glyphs.len() {
            break;
        }
        let mut end = start;
        let mut width = 0.0;
        while end < glyphs.len() && width + glyphs[end].width <= max {
            width += glyphs[end].width;
            end += 1;
        }
        if end == glyphs.len() {
            lines.push(glyphs[start..].to_vec());
            break;
        }
        if lines.len() + 1 == max_lines {
            let room = max - units(ellipsis);
            let mut cut = start;
            let mut width = 0.0;
            while cut < glyphs.len() && width + glyphs[cut].width <= room {
                width += glyphs[cut].width;
                cut += 1;
            }
            while cut > start && glyphs[cut - 1].ch == ' ' {
                cut -= 1;
            }
            let mut line = glyphs[start..cut].to_vec();
            line.extend_from_slice(ellipsis);
            lines.push(line);
            break;
        }
        let end = end.max(start + 1);
        let cut = (start + 1..=end)
            .rev()
            .find(|&i| i < glyphs.len() && can_break_before(i))
            .unwrap_or(end);
        let mut line = glyphs[start..cut].to_vec();
        while line.last().is_some_and(|g| g.ch == ' ') {
            line.pop();
        }
        lines.push(line);
        start = cut;
    }
    lines
}

/// The fonts of one PDF: Helvetica in two weights, and the embedded font being subset.
struct Fonts<'f> {
    embedded: Option<Embedded<'f>>,
}

struct Embedded<'f> {
    font: &'f LabelFont,
    face: ttf_parser::Face<'f>,
    remapper: GlyphRemapper,
    /// New glyph id (the CID) to the character it shows, for copy and search.
    unicode: BTreeMap<u16, char>,
    /// 1000 / units per em.
    scale: f32,
    used: bool,
}

impl<'f> Fonts<'f> {
    fn new(font: Option<&'f LabelFont>) -> Result<Self, LabelError> {
        let embedded = match font {
            None => None,
            Some(font) => {
                let face =
                    ttf_parser::Face::parse(&font.data, 0).map_err(|e| LabelError::Font {
                        origin: font.origin.clone(),
                        reason: e.to_string(),
                    })?;
                let scale = 1000.0 / f32::from(face.units_per_em().max(1));
                Some(Embedded {
                    font,
                    face,
                    remapper: GlyphRemapper::new(),
                    unicode: BTreeMap::new(),
                    scale,
                    used: false,
                })
            }
        };
        Ok(Fonts { embedded })
    }

    /// A name or caption, in the embedded font if there is one; `None` when nothing of it
    /// would be worth printing.
    fn free_text(&mut self, text: &str) -> Option<Text> {
        let text = clean(text);
        if text.is_empty() {
            return None;
        }
        match &mut self.embedded {
            Some(embedded) => Some(embedded.shape(&text)),
            None => {
                let mut ascii = String::with_capacity(text.len());
                for c in text.chars() {
                    match to_ascii(c) {
                        Some(a) => ascii.push(a),
                        None if ascii.ends_with('?') => {}
                        None => ascii.push('?'),
                    }
                }
                ascii
                    .chars()
                    .any(|c| c.is_ascii_alphanumeric())
                    .then(|| helvetica(&ascii, false))
            }
        }
    }

    fn mark_used(&mut self, text: &Text) {
        if let (Face::Embedded, Some(embedded)) = (text.face, &mut self.embedded) {
            embedded.used = true;
        }
    }
}

impl Embedded<'_> {
    fn glyph(&mut self, ch: char, old: ttf_parser::GlyphId) -> Glyph {
        let code = self.remapper.remap(old.0);
        self.unicode.entry(code).or_insert(ch);
        let advance = self.face.glyph_hor_advance(old).unwrap_or(0);
        Glyph {
            ch,
            code,
            width: f32::from(advance) * self.scale,
        }
    }

    fn shape(&mut self, text: &str) -> Text {
        let question = self.face.glyph_index('?');
        let mut glyphs = Vec::with_capacity(text.len());
        let mut missing = false;
        for c in text.chars() {
            // A full-width form the font lacks as its ASCII twin.
            let found = self.face.glyph_index(c).map(|id| (c, id)).or_else(|| {
                let a = to_ascii(c)?;
                Some((a, self.face.glyph_index(a)?))
            });
            match found {
                Some((c, id)) => {
                    glyphs.push(self.glyph(c, id));
                    missing = false;
                }
                None if missing => {}
                None => {
                    if let Some(id) = question {
                        glyphs.push(self.glyph('?', id));
                    }
                    missing = true;
                }
            }
        }
        let ellipsis = match (self.face.glyph_index('…'), self.face.glyph_index('.')) {
            (Some(id), _) => vec![self.glyph('…', id)],
            (None, Some(id)) => vec![self.glyph('.', id); 3],
            (None, None) => Vec::new(),
        };
        Text {
            face: Face::Embedded,
            glyphs,
            ellipsis,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Layout

/// Where things go on a label, in points from the bottom left corner.
struct Geometry {
    width: f32,
    height: f32,
    margin: f32,
    /// The base font size: the name and the SKU.
    font_size: f32,
}

impl Geometry {
    fn new(size: LabelSize) -> Self {
        let width = size.width_pt();
        let height = size.height_pt();
        Geometry {
            width,
            height,
            margin: (1.5 * PT_PER_MM).max(width.min(height) * 0.04),
            font_size: (height / 12.0).min(width / 20.0).clamp(5.0, 14.0),
        }
    }

    /// The bar width for a pattern of `modules`: as wide as the label allows (inside the
    /// margins, with the quiet zones on the label), at most [`MAX_MODULE_MM`].
    fn module_width(&self, modules: usize) -> f32 {
        let inside = (self.width - 2.0 * self.margin) / modules as f32;
        let with_quiet = self.width / (modules + 2 * QUIET_MODULES) as f32;
        inside.min(with_quiet).min(MAX_MODULE_MM * PT_PER_MM)
    }
}

fn show(content: &mut Content, text: &Text, size: f32, x: f32, y: f32) {
    let (font, bytes): (Name, Vec<u8>) = match text.face {
        Face::Regular => (REGULAR, text.glyphs.iter().map(|g| g.code as u8).collect()),
        Face::Bold => (BOLD, text.glyphs.iter().map(|g| g.code as u8).collect()),
        Face::Embedded => (
            EMBEDDED,
            text.glyphs
                .iter()
                .flat_map(|g| g.code.to_be_bytes())
                .collect(),
        ),
    };
    content.begin_text();
    content.set_font(font, size);
    content.next_line(x, y);
    content.show(Str(&bytes));
    content.end_text();
}

/// The content stream of one label.
fn draw_label(
    geometry: &Geometry,
    fonts: &mut Fonts<'_>,
    label: &Label,
    modules: &[u8],
    quantity: &str,
) -> Vec<u8> {
    let Geometry {
        width: w,
        height: h,
        margin: m,
        font_size: fs,
    } = *geometry;
    let inner = w - 2.0 * m;
    let small = fs * 0.85;
    let qty_size = fs * 1.25;
    let line = fs * 1.15;

    let name = fonts.free_text(&label.name);
    let gtin = label
        .gtin
        .as_deref()
        .map(clean)
        .filter(|g| !g.is_empty())
        .map(|g| helvetica(&format!("GTIN {g}"), false));
    let caption = label.caption.as_deref().and_then(|c| fonts.free_text(c));

    // Bottom row and the SKU above it.
    let qty_baseline = m + qty_size * 0.22;
    let lowest_hri_baseline = m + qty_size + fs * 0.35;
    let lowest_bars_bottom = lowest_hri_baseline + fs;

    // The top text, giving way (GTIN, then the name's second line, then the name) until
    // the bars are tall enough.
    let name_lines = |n: usize| match &name {
        Some(text) => wrap(&text.glyphs, inner * 1000.0 / fs, n, &text.ellipsis),
        None => Vec::new(),
    };
    let mut lines = name_lines(2);
    let mut show_gtin = gtin.is_some();
    let top_height = |lines: usize, gtin: bool| {
        let text = lines as f32 * line + if gtin { small * 1.15 } else { 0.0 };
        if text > 0.0 { text + fs * 0.3 } else { 0.0 }
    };
    loop {
        let bars = h - m - top_height(lines.len(), show_gtin) - lowest_bars_bottom;
        if bars >= MIN_BAR_HEIGHT_PT {
            break;
        }
        if show_gtin {
            show_gtin = false;
        } else if lines.len() > 1 {
            lines = name_lines(1);
        } else if !lines.is_empty() {
            lines.clear();
        } else {
            break;
        }
    }

    let mut content = Content::new();
    let mut cursor = h - m;
    for glyphs in &lines {
        let text = Text {
            face: name.as_ref().map_or(Face::Regular, |t| t.face),
            glyphs: glyphs.clone(),
            ellipsis: Vec::new(),
        };
        fonts.mark_used(&text);
        show(&mut content, &text, fs, m, cursor - fs * 0.8);
        cursor -= line;
    }
    if show_gtin && let Some(gtin) = &gtin {
        let text = gtin.truncated(small, inner);
        show(&mut content, &text, small, m, cursor - small * 0.8);
    }

    // The bars, centred, as filled rectangles, under the top text; on a tall label no
    // taller than half their width (at least MIN_BAR_HEIGHT_PT), the SKU right under them.
    let module = geometry.module_width(modules.len());
    let bars_top = h - m - top_height(lines.len(), show_gtin);
    let tallest = (module * modules.len() as f32 * 0.5).max(MIN_BAR_HEIGHT_PT);
    let bars_bottom = lowest_bars_bottom.max(bars_top - tallest);
    let hri_baseline = bars_bottom - fs;
    let x0 = (w - module * modules.len() as f32) / 2.0;
    let mut i = 0;
    while i < modules.len() {
        if modules[i] == 1 {
            let run = modules[i..].iter().take_while(|&&b| b == 1).count();
            content.rect(
                x0 + i as f32 * module,
                bars_bottom,
                run as f32 * module,
                bars_top - bars_bottom,
            );
            i += run;
        } else {
            i += 1;
        }
    }
    content.fill_nonzero();

    // The SKU under the bars, smaller when it would not fit.
    let sku = helvetica(&label.merchant_sku, false);
    let sku_size = fs.min(inner * 1000.0 / units(&sku.glyphs).max(1.0));
    show(
        &mut content,
        &sku,
        sku_size,
        (w - sku.width(sku_size)) / 2.0,
        hri_baseline,
    );

    // The quantity, and the caption in what room is left.
    let qty = helvetica(&format!("Qty {quantity}"), true);
    let qty = qty.truncated(qty_size, inner);
    show(&mut content, &qty, qty_size, m, qty_baseline);
    if let Some(caption) = caption {
        let room = inner - qty.width(qty_size) - fs;
        if room > small * 2.0 {
            let text = caption.truncated(small, room);
            fonts.mark_used(&text);
            show(
                &mut content,
                &text,
                small,
                w - m - text.width(small),
                qty_baseline,
            );
        }
    }
    content.finish().into_vec()
}

// ---------------------------------------------------------------------------------------
// The PDF

impl Fonts<'_> {
    /// The document: each content stream on as many pages as it has copies.
    fn write_pdf(
        self,
        geometry: &Geometry,
        contents: &[(Vec<u8>, usize)],
    ) -> Result<Vec<u8>, LabelError> {
        let mut next = 0;
        let mut alloc = || {
            next += 1;
            Ref::new(next)
        };
        let catalog = alloc();
        let tree = alloc();
        let info = alloc();
        let regular = alloc();
        let bold = alloc();
        let embedded = match &self.embedded {
            Some(e) if e.used => Some((e, alloc())),
            _ => None,
        };
        let content_refs: Vec<Ref> = contents.iter().map(|_| alloc()).collect();
        let pages: Vec<(Ref, Ref)> = contents
            .iter()
            .zip(&content_refs)
            .flat_map(|((_, n), r)| std::iter::repeat_n(*r, *n))
            .map(|content| (alloc(), content))
            .collect();

        let mut pdf = Pdf::new();
        pdf.catalog(catalog).pages(tree);
        pdf.pages(tree)
            .kids(pages.iter().map(|(page, _)| *page))
            .count(pages.len() as i32);
        pdf.document_info(info)
            .title(TextStr("Labels"))
            .producer(TextStr("sync1688"));
        let media = Rect::new(0.0, 0.0, geometry.width, geometry.height);
        for &(page, content) in &pages {
            let mut page = pdf.page(page);
            page.media_box(media).parent(tree).contents(content);
            let mut resources = page.resources();
            let mut fonts = resources.fonts();
            fonts.pair(REGULAR, regular).pair(BOLD, bold);
            if let Some((_, font)) = embedded {
                fonts.pair(EMBEDDED, font);
            }
        }
        for ((content, _), r) in contents.iter().zip(&content_refs) {
            pdf.stream(*r, content);
        }
        for (r, base) in [(regular, "Helvetica"), (bold, "Helvetica-Bold")] {
            pdf.type1_font(r)
                .base_font(Name(base.as_bytes()))
                .encoding_predefined(Name(b"WinAnsiEncoding"));
        }
        if let Some((font, type0)) = embedded {
            font.write(&mut pdf, type0, &mut alloc)?;
        }
        Ok(pdf.finish())
    }
}

impl Embedded<'_> {
    /// The font as a Type 0 font with Identity-H encoding over a CID font holding the
    /// subset, with widths and a ToUnicode map so that text can be copied and searched.
    fn write(
        &self,
        pdf: &mut Pdf,
        type0: Ref,
        alloc: &mut impl FnMut() -> Ref,
    ) -> Result<(), LabelError> {
        const SYSTEM_INFO: SystemInfo = SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"Identity"),
            supplement: 0,
        };
        let (cid, descriptor, to_unicode, file) = (alloc(), alloc(), alloc(), alloc());
        let subset = subsetter::subset(&self.font.data, 0, &self.remapper).map_err(|e| {
            LabelError::Font {
                origin: self.font.origin.clone(),
                reason: format!("cannot be embedded ({e})"),
            }
        })?;
        let cff = self.face.tables().cff.is_some();
        let base = format!("{}+{}", self.subset_tag(), self.font.postscript_name);
        let base = Name(base.as_bytes());

        pdf.type0_font(type0)
            .base_font(base)
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(cid)
            .to_unicode(to_unicode);

        let widths: Vec<f32> = self
            .remapper
            .remapped_gids()
            .map(|old| {
                let advance = self.face.glyph_hor_advance(ttf_parser::GlyphId(old));
                f32::from(advance.unwrap_or(0)) * self.scale
            })
            .collect();
        let mut font = pdf.cid_font(cid);
        font.subtype(if cff {
            CidFontType::Type0
        } else {
            CidFontType::Type2
        })
        .base_font(base)
        .system_info(SYSTEM_INFO)
        .font_descriptor(descriptor)
        .default_width(0.0);
        if !cff {
            font.cid_to_gid_map_predefined(Name(b"Identity"));
        }
        font.widths().consecutive(0, widths);
        font.finish();

        let s = |v: f32| v * self.scale;
        let bbox = self.face.global_bounding_box();
        let ascent = f32::from(self.face.ascender());
        let mut flags = FontFlags::SYMBOLIC;
        if self.face.is_monospaced() {
            flags |= FontFlags::FIXED_PITCH;
        }
        let mut d = pdf.font_descriptor(descriptor);
        d.name(base)
            .flags(flags)
            .bbox(Rect::new(
                s(f32::from(bbox.x_min)),
                s(f32::from(bbox.y_min)),
                s(f32::from(bbox.x_max)),
                s(f32::from(bbox.y_max)),
            ))
            .italic_angle(self.face.italic_angle())
            .ascent(s(ascent))
            .descent(s(f32::from(self.face.descender())))
            .cap_height(s(self.face.capital_height().map_or(ascent, f32::from)))
            .stem_v(10.0 + 0.244 * (f32::from(self.face.weight().to_number()) - 50.0));
        if cff {
            d.font_file3(file);
        } else {
            d.font_file2(file);
        }
        d.finish();

        let mut cmap = UnicodeCmap::new(Name(b"Custom"), SYSTEM_INFO);
        for (&code, &ch) in &self.unicode {
            cmap.pair(code, ch);
        }
        let cmap = cmap.finish();
        pdf.cmap(to_unicode, cmap.as_slice())
            .name(Name(b"Custom"))
            .system_info(SYSTEM_INFO);

        let mut stream = pdf.stream(file, &subset);
        if cff {
            stream.pair(Name(b"Subtype"), Name(b"OpenType"));
        } else {
            stream.pair(Name(b"Length1"), subset.len() as i32);
        }
        Ok(())
    }

    /// Six capital letters naming the subset (the same glyphs give the same tag).
    fn subset_tag(&self) -> String {
        let mut hash: u32 = 0x811c_9dc5;
        for gid in self.remapper.remapped_gids() {
            for b in gid.to_be_bytes() {
                hash = (hash ^ u32::from(b)).wrapping_mul(0x0100_0193);
            }
        }
        (0..6)
            .map(|i| char::from(b'A' + ((hash >> (i * 5)) % 26) as u8))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Code 128 bar and space widths of symbol values 0..=105, from ISO/IEC 15417.
    const PATTERNS: [&str; 106] = [
        "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212",
        "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221",
        "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221",
        "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321",
        "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131",
        "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131",
        "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111",
        "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
        "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242",
        "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
        "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311",
        "113141", "114131", "311141", "411131", "211412", "211214", "211232",
    ];
    const STOP: &str = "2331112";

    /// Run lengths of a module pattern, as a string of digits.
    fn widths(modules: &[u8]) -> String {
        let mut out = String::new();
        let mut i = 0;
        while i < modules.len() {
            let run = modules[i..]
                .iter()
                .take_while(|&&m| m == modules[i])
                .count();
            out.push(char::from_digit(run as u32, 10).unwrap());
            i += run;
        }
        out
    }

    /// The symbol values of a pattern, checked against the reference table: start,
    /// data, check character; the stop pattern must end it.
    fn decode(modules: &[u8]) -> Vec<usize> {
        assert_eq!((modules.len() - 13) % 11, 0, "length {}", modules.len());
        let symbols = (modules.len() - 13) / 11;
        assert_eq!(widths(&modules[symbols * 11..]), STOP);
        (0..symbols)
            .map(|k| {
                let w = widths(&modules[k * 11..k * 11 + 11]);
                PATTERNS
                    .iter()
                    .position(|p| *p == w)
                    .unwrap_or_else(|| panic!("symbol {k} ({w}) is not in the table"))
            })
            .collect()
    }

    fn checksum(values: &[usize]) -> usize {
        let sum: usize = values[0]
            + values[1..]
                .iter()
                .zip(1..)
                .map(|(v, i)| v * i)
                .sum::<usize>();
        sum % 103
    }

    #[test]
    fn code128_matches_the_reference_patterns() {
        // Start B, P J J 1 2 3 C, check 55 (879 mod 103).
        let values = decode(&code128_modules("PJJ123C").unwrap());
        assert_eq!(values, [104, 48, 42, 42, 17, 18, 19, 35, 55]);
        assert_eq!(widths(&code128_modules("PJJ123C").unwrap()[..11]), "211214");

        // Four digits at the end switch to set C (99), two digits a symbol.
        let values = decode(&code128_modules("AB12345678").unwrap());
        assert_eq!(values, [104, 33, 34, 99, 12, 34, 56, 78, 57]);

        // All digits: start C.
        assert_eq!(
            decode(&code128_modules("123456").unwrap()),
            [105, 12, 34, 56, 44]
        );
        assert_eq!(widths(&code128_modules("123456").unwrap()[..11]), "211232");

        // An odd leading run: set C for the pairs, back to B (100) for the last digit.
        let values = decode(&code128_modules("12345AB").unwrap());
        assert_eq!(values, [105, 12, 34, 100, 21, 33, 34, 11]);

        // An odd run of six or more in the middle: its first digit in B, then C.
        let values = decode(&code128_modules("X1234567Y").unwrap());
        assert_eq!(values[..6], [104, 56, 17, 99, 23, 45]);
        assert_eq!(values[6..8], [67, 100]);
        assert_eq!(values[8], 57);

        // Short runs stay in B; lower case and punctuation too.
        for sku in ["X9", "ab-12_c", "A B/c.d", "~!{}"] {
            let values = decode(&code128_modules(sku).unwrap());
            assert_eq!(values[0], 104, "{sku}");
            let data: Vec<usize> = sku.bytes().map(|b| usize::from(b) - 32).collect();
            assert_eq!(values[1..values.len() - 1], data[..], "{sku}");
            assert_eq!(
                *values.last().unwrap(),
                checksum(&values[..values.len() - 1])
            );
        }
    }

    #[test]
    fn code128_refuses_what_it_cannot_encode() {
        let err = code128_modules("ABC-é").unwrap_err();
        assert!(matches!(&err, LabelError::UnencodableSku { sku, .. } if sku == "ABC-é"));
        assert!(err.to_string().contains("\"ABC-é\""), "{err}");
        assert!(err.to_string().contains("'é'"), "{err}");
        assert!(code128_modules("红色-XL").is_err());
        assert!(code128_modules("A\tB").is_err());
        assert!(code128_modules("").is_err());
    }

    fn label(sku: &str, name: &str, quantity: &str) -> Label {
        Label {
            merchant_sku: sku.to_owned(),
            name: name.to_owned(),
            quantity: quantity.parse().unwrap(),
            gtin: None,
            caption: None,
        }
    }

    fn pdf_text(pdf: &[u8]) -> String {
        String::from_utf8_lossy(pdf).into_owned()
    }

    /// The number of page objects, and the `/Count` of the page tree.
    fn pages(pdf: &[u8]) -> (usize, usize) {
        let text = pdf_text(pdf);
        let objects = text.matches("/Type /Page\n").count()
            + text.matches("/Type /Page/").count()
            + text.matches("/Type /Page ").count();
        let count = text
            .split("/Count ")
            .nth(1)
            .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        (objects, count)
    }

    #[test]
    fn per_unit_makes_a_label_per_unit_rounding_up() {
        let labels = [
            label("A-1", "Cup", "3"),
            label("B-2", "Tea", "2.5"),
            label("C-3", "Nothing", "0"),
        ];
        assert_eq!(page_count(&labels, Per::Unit).unwrap(), 6);
        let pdf = render(&labels, Per::Unit, LabelSize::default()).unwrap();
        assert_eq!(pages(&pdf), (6, 6));
        // A line's units share one content stream: two streams for six pages.
        assert_eq!(pdf_text(&pdf).matches("endstream").count(), 2);
        assert!(pdf_text(&pdf).contains("(Qty 1)"));
        assert!(!pdf_text(&pdf).contains("(Qty 3)"));
    }

    #[test]
    fn per_line_makes_a_label_per_line_with_its_quantity() {
        let labels = [
            label("A-1", "Cup", "3"),
            label("B-2", "Tea", "2.500"),
            label("C-3", "Nothing", "0"),
        ];
        assert_eq!(page_count(&labels, Per::Line).unwrap(), 2);
        let pdf = render(&labels, Per::Line, LabelSize::default()).unwrap();
        assert_eq!(pages(&pdf), (2, 2));
        assert!(pdf_text(&pdf).contains("(Qty 3)"));
        assert!(pdf_text(&pdf).contains("(Qty 2.5)"));
    }

    /// The first page's media box, to 1/1000 point.
    fn media_box(pdf: &[u8]) -> [f32; 4] {
        let text = pdf_text(pdf);
        let inside = text
            .split("/MediaBox [")
            .nth(1)
            .unwrap()
            .split(']')
            .next()
            .unwrap();
        let v: Vec<f32> = inside
            .split(' ')
            .map(|n| (n.parse::<f32>().unwrap() * 1000.0).round() / 1000.0)
            .collect();
        v.try_into().unwrap()
    }

    #[test]
    fn pages_are_the_label_size_in_points() {
        let pdf = render(&[label("A-1", "Cup", "1")], Per::Line, LabelSize::default()).unwrap();
        assert_eq!(media_box(&pdf), [0.0, 0.0, 141.732, 85.039]);
        let size = LabelSize {
            width_mm: 100.0,
            height_mm: 150.0,
        };
        let pdf = render(&[label("A-1", "Cup", "1")], Per::Line, size).unwrap();
        assert_eq!(media_box(&pdf), [0.0, 0.0, 283.465, 425.197]);
        assert!((size.width_pt() - 283.4646).abs() < 0.001);
    }

    #[test]
    fn the_page_limit_is_a_clear_error() {
        let at_limit = [label("A-1", "Cup", "9999.5")];
        assert_eq!(page_count(&at_limit, Per::Unit).unwrap(), MAX_PAGES);
        let pdf = render(&at_limit, Per::Unit, LabelSize::default()).unwrap();
        assert_eq!(pages(&pdf), (MAX_PAGES, MAX_PAGES));
        let over = [label("A-1", "Cup", "9999.5"), label("B-2", "Tea", "1")];
        let err = render(&over, Per::Unit, LabelSize::default()).unwrap_err();
        assert!(matches!(
            err,
            LabelError::TooManyLabels {
                limit: MAX_PAGES,
                ..
            }
        ));
        assert!(err.to_string().contains("10001 labels"), "{err}");
        // Per line, the same receipt is two labels.
        assert_eq!(page_count(&over, Per::Line).unwrap(), 2);
        // Absurd quantities do not overflow.
        let huge = vec![label("A", "x", "79228162514264337593543950335"); 3];
        assert!(matches!(
            page_count(&huge, Per::Unit),
            Err(LabelError::TooManyLabels { .. })
        ));
    }

    #[test]
    fn bad_input_is_named() {
        let size = LabelSize::default();
        let err = render(
            &[label("A", "Cup", "1"), label(" ", "Tea", "1")],
            Per::Line,
            size,
        )
        .unwrap_err();
        assert!(
            matches!(err, LabelError::EmptySku { position: 2, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("\"Tea\""), "{err}");

        let err = render(&[label("茶-1", "Tea", "1")], Per::Line, size).unwrap_err();
        assert!(err.to_string().contains("\"茶-1\""), "{err}");

        let err = render(&[label("A", "Cup", "-1")], Per::Line, size).unwrap_err();
        assert!(matches!(err, LabelError::NegativeQuantity { .. }), "{err}");

        let err = render(&[label("A", "Cup", "0")], Per::Unit, size).unwrap_err();
        assert!(matches!(err, LabelError::Nothing), "{err}");
        assert!(matches!(
            render(&[], Per::Unit, size),
            Err(LabelError::Nothing)
        ));

        let long = "TSHIRT-COTTON-WHITE-XL-2024";
        let err = render(&[label(long, "Shirt", "1")], Per::Line, size).unwrap_err();
        assert!(
            matches!(&err, LabelError::SkuTooLong { sku, .. } if sku == long),
            "{err}"
        );
        let wide = LabelSize {
            width_mm: 100.0,
            height_mm: 30.0,
        };
        assert!(render(&[label(long, "Shirt", "1")], Per::Line, wide).is_ok());
        // Digits pack two to a bar symbol: a long numeric SKU fits.
        assert!(render(&[label("69012345678901234567", "x", "1")], Per::Line, size).is_ok());

        for (w, h) in [(10.0, 30.0), (50.0, 5.0), (f32::NAN, 30.0), (50.0, 2000.0)] {
            let size = LabelSize {
                width_mm: w,
                height_mm: h,
            };
            let err = render(&[label("A", "Cup", "1")], Per::Line, size).unwrap_err();
            assert!(matches!(err, LabelError::InvalidSize { .. }), "{err}");
        }
    }

    #[test]
    fn the_builtin_font_prints_ascii_and_drops_what_it_cannot_show() {
        let mut fonts = Fonts::new(None).unwrap();
        let shown = |fonts: &mut Fonts<'_>, s: &str| {
            fonts
                .free_text(s)
                .map(|t| t.glyphs.iter().map(|g| g.ch).collect::<String>())
        };
        assert_eq!(shown(&mut fonts, "Mug 350ml"), Some("Mug 350ml".to_owned()));
        assert_eq!(
            shown(&mut fonts, "纯棉T恤（白色）ＸＬ"),
            Some("?T?(?)XL".to_owned())
        );
        assert_eq!(shown(&mut fonts, " a\n\tb  "), Some("a b".to_owned()));
        assert_eq!(shown(&mut fonts, "纯棉短袖"), None);
        assert_eq!(shown(&mut fonts, ""), None);

        assert!(needs_font(&[label("A", "纯棉T恤", "1")]));
        assert!(!needs_font(&[label("A", "Cotton tee（XL）", "1")]));
        let mut captioned = label("A", "Cup", "1");
        captioned.caption = Some("采购单 7".to_owned());
        assert!(needs_font(&[captioned]));

        let mut l = label("A-1", "纯棉T恤 white", "1");
        l.caption = Some("PO-42".to_owned());
        let pdf = render(&[l], Per::Line, LabelSize::default()).unwrap();
        let text = pdf_text(&pdf);
        assert!(text.contains("(?T? white)"), "{text}");
        assert!(text.contains("(PO-42)"));
        assert!(text.contains("(A-1)"));
        assert!(text.contains("/BaseFont /Helvetica"));
        assert!(!text.contains("/FontFile"));
    }

    fn glyphs(s: &str) -> Vec<Glyph> {
        s.chars()
            .map(|ch| Glyph {
                ch,
                code: 0,
                width: 100.0,
            })
            .collect()
    }

    fn lines(s: &str, max: f32, n: usize) -> Vec<String> {
        wrap(&glyphs(s), max, n, &glyphs("~"))
            .iter()
            .map(|l| l.iter().map(|g| g.ch).collect())
            .collect()
    }

    #[test]
    fn names_wrap_at_spaces_or_between_cjk_and_end_in_an_ellipsis() {
        assert_eq!(lines("abc def", 1000.0, 2), ["abc def"]);
        assert_eq!(lines("abc def ghi", 800.0, 2), ["abc def", "ghi"]);
        assert_eq!(lines("abc def ghi jkl", 800.0, 2), ["abc def", "ghi jkl"]);
        assert_eq!(
            lines("abc def ghi jkl mno", 800.0, 2),
            ["abc def", "ghi jkl~"]
        );
        assert_eq!(
            lines("纯棉短袖T恤白色加大码", 500.0, 2),
            ["纯棉短袖T", "恤白色加~"]
        );
        assert_eq!(lines("abcdefghij", 400.0, 2), ["abcd", "efg~"]);
        assert_eq!(lines("abc def", 300.0, 1), ["ab~"]);
        assert!(lines("   ", 300.0, 2).is_empty());
    }

    #[test]
    fn text_never_leaves_the_label() {
        let mut l = label(
            "SKU-1",
            "A very long product name that cannot possibly fit on two lines of a small label",
            "123456.789",
        );
        l.gtin = Some("6901234567892".to_owned());
        l.caption = Some("PO-2024-000123 / receipt 456789".to_owned());
        for size in [
            LabelSize::default(),
            LabelSize {
                width_mm: MIN_WIDTH_MM,
                height_mm: MIN_HEIGHT_MM,
            },
            LabelSize {
                width_mm: 100.0,
                height_mm: 150.0,
            },
        ] {
            let geometry = Geometry::new(size);
            let mut fonts = Fonts::new(None).unwrap();
            let modules = code128_modules(&l.merchant_sku).unwrap();
            let content = draw_label(&geometry, &mut fonts, &l, &modules, "123456.789");
            let content = String::from_utf8(content).unwrap();
            // Every text starts inside the label; widths were measured to fit.
            for op in content.lines().filter(|l| l.ends_with(" Td")) {
                let xy: Vec<f32> = op.split(' ').take(2).map(|v| v.parse().unwrap()).collect();
                assert!(xy[0] >= 0.0 && xy[0] < geometry.width, "{op} in {size:?}");
                assert!(xy[1] > 0.0 && xy[1] < geometry.height, "{op} in {size:?}");
            }
            // The bars are at least 5 mm tall.
            let bar = content.lines().find(|l| l.ends_with(" re")).unwrap();
            let height: f32 = bar.split(' ').nth(3).unwrap().parse().unwrap();
            assert!(height >= MIN_BAR_HEIGHT_PT - 0.01, "{bar} in {size:?}");
        }
    }
}
