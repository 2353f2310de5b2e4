//! CSV imports of merchant SKUs (`sku,gtin,name`) and mappings
//! (`offer_id,spec_id,merchant_sku[,quantity_ratio]`). A file is checked whole before
//! anything is written; any bad row refuses the whole file, naming every bad line.

use std::collections::HashMap;
use std::path::Path;

use rust_decimal::Decimal;

use crate::domain::SkuMapping;
use crate::store::{ImportOutcome, MappingChange, MerchantSku, Numbered, Store, StoreError};

/// Stop listing bad rows after this many.
const MAX_REPORTED: usize = 20;

/// Why a file was refused. Nothing from it was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: cannot read: {message}")]
    Read { file: String, message: String },
    #[error("{file}: nothing written; {}", .problems.join("; "))]
    Rows { file: String, problems: Vec<String> },
    #[error("{file}: {source}")]
    Store {
        file: String,
        #[source]
        source: StoreError,
    },
}

/// A bad row, by its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Parses `sku,gtin,name` rows; a header row is recognised and skipped.
pub fn parse_merchant_skus(text: &str) -> Result<Vec<Numbered<MerchantSku>>, Vec<RowProblem>> {
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut first_line_of: HashMap<String, usize> = HashMap::new();
    let mut gtin_line: HashMap<String, usize> = HashMap::new();
    for (line, fields) in records(text, "sku", &mut problems) {
        let problem = |message: String| RowProblem { line, message };
        if fields.len() < 3 || fields.len() > 3 {
            problems.push(problem(format!(
                "expected 3 columns sku,gtin,name, found {}",
                fields.len()
            )));
            continue;
        }
        let sku = fields[0].clone();
        if let Err(m) = check_sku(&sku) {
            problems.push(problem(m));
            continue;
        }
        let gtin = Some(fields[1].clone()).filter(|g| !g.is_empty());
        if let Some(g) = &gtin {
            if let Err(m) = check_gtin(g) {
                problems.push(problem(m));
                continue;
            }
            if let Some(other) = gtin_line.insert(g.clone(), line) {
                problems.push(problem(format!("GTIN {g} is also on line {other}")));
                continue;
            }
        }
        let name = fields[2].clone();
        if name.is_empty() {
            problems.push(problem(format!("SKU `{sku}` has no name")));
            continue;
        }
        if let Some(other) = first_line_of.insert(sku.clone(), line) {
            problems.push(problem(format!("SKU `{sku}` is also on line {other}")));
            continue;
        }
        rows.push(Numbered {
            line,
            value: MerchantSku { sku, gtin, name },
        });
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

/// Parses `offer_id,spec_id,merchant_sku[,quantity_ratio]` rows; a header row is
/// recognised and skipped. An empty `spec_id` is an offer without SKUs.
pub fn parse_mappings(text: &str) -> Result<Vec<Numbered<SkuMapping>>, Vec<RowProblem>> {
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut first_line_of: HashMap<(i64, String), usize> = HashMap::new();
    for (line, fields) in records(text, "offer_id", &mut problems) {
        let problem = |message: String| RowProblem { line, message };
        if !(3..=4).contains(&fields.len()) {
            problems.push(problem(format!(
                "expected 3 or 4 columns offer_id,spec_id,merchant_sku[,quantity_ratio], found {}",
                fields.len()
            )));
            continue;
        }
        let offer_id = match fields[0].parse::<i64>() {
            Ok(id) if id > 0 => id,
            _ => {
                problems.push(problem(format!(
                    "offer_id `{}` is not a positive 64-bit integer",
                    fields[0]
                )));
                continue;
            }
        };
        let spec_id = fields[1].clone();
        if spec_id.chars().any(char::is_whitespace) {
            problems.push(problem(format!("spec_id `{spec_id}` contains spaces")));
            continue;
        }
        let merchant_sku = fields[2].clone();
        if let Err(m) = check_sku(&merchant_sku) {
            problems.push(problem(m));
            continue;
        }
        let quantity_ratio = match fields.get(3).map(String::as_str).filter(|s| !s.is_empty()) {
            None => Decimal::ONE,
            Some(text) => match text.parse::<Decimal>() {
                Ok(r) if r > Decimal::ZERO => r,
                _ => {
                    problems.push(problem(format!(
                        "quantity_ratio `{text}` is not a positive number"
                    )));
                    continue;
                }
            },
        };
        if let Some(other) = first_line_of.insert((offer_id, spec_id.clone()), line) {
            problems.push(problem(format!(
                "offer {offer_id} spec `{spec_id}` is also mapped on line {other}"
            )));
            continue;
        }
        rows.push(Numbered {
            line,
            value: SkuMapping {
                offer_id,
                spec_id,
                merchant_sku,
                quantity_ratio,
            },
        });
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

/// Reads and imports a merchant SKU file.
pub async fn import_merchant_skus_file(
    store: &dyn Store,
    path: &Path,
) -> Result<ImportOutcome, ImportError> {
    let (file, text) = read(path)?;
    let rows = parse_merchant_skus(&text).map_err(|p| rows_error(&file, p))?;
    store
        .import_merchant_skus(&rows)
        .await
        .map_err(|source| store_error(&file, source))
}

/// Reads and imports a mapping file; waiting unmapped lines are re-mapped. Unless
/// `force`, a 1688 SKU must belong to its offer's stored product (when there is one).
pub async fn import_mappings_file(
    store: &dyn Store,
    path: &Path,
    force: bool,
) -> Result<MappingChange, ImportError> {
    let (file, text) = read(path)?;
    let rows = parse_mappings(&text).map_err(|p| rows_error(&file, p))?;
    store
        .set_mappings(&rows, force)
        .await
        .map_err(|source| store_error(&file, source))
}

/// Mappings as CSV in the import format, header included: an export imports back as is.
pub fn mappings_csv(rows: &[SkuMapping]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record(["offer_id", "spec_id", "merchant_sku", "quantity_ratio"]);
    for m in rows {
        let _ = writer.write_record([
            m.offer_id.to_string(),
            m.spec_id.clone(),
            m.merchant_sku.clone(),
            m.quantity_ratio.normalize().to_string(),
        ]);
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn read(path: &Path) -> Result<(String, String), ImportError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ImportError::Read {
        file: file.clone(),
        message: e.to_string(),
    })?;
    // Spreadsheet exports often start with a byte-order mark.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let text = String::from_utf8(bytes.to_vec()).map_err(|e| ImportError::Read {
        file: file.clone(),
        message: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
    })?;
    Ok((file, text))
}

fn rows_error(file: &str, problems: Vec<RowProblem>) -> ImportError {
    let total = problems.len();
    let mut listed: Vec<String> = problems
        .iter()
        .take(MAX_REPORTED)
        .map(ToString::to_string)
        .collect();
    if total > MAX_REPORTED {
        listed.push(format!("and {} more bad rows", total - MAX_REPORTED));
    }
    ImportError::Rows {
        file: file.to_owned(),
        problems: listed,
    }
}

fn store_error(file: &str, source: StoreError) -> ImportError {
    match source {
        StoreError::InvalidRow { line, message } => ImportError::Rows {
            file: file.to_owned(),
            problems: vec![RowProblem { line, message }.to_string()],
        },
        source => ImportError::Store {
            file: file.to_owned(),
            source,
        },
    }
}

/// The non-blank records of a CSV text with their line numbers, fields trimmed; a first
/// record whose first field is `header` is skipped.
fn records(text: &str, header: &str, problems: &mut Vec<RowProblem>) -> Vec<(usize, Vec<String>)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for (index, record) in reader.records().enumerate() {
        match record {
            Ok(record) => {
                let line = record
                    .position()
                    .map(|p| line_of(text, p.byte()))
                    .unwrap_or(index + 1);
                let fields: Vec<String> = record.iter().map(str::to_owned).collect();
                if fields.iter().all(String::is_empty) {
                    continue;
                }
                if out.is_empty() && index == 0 && fields[0].eq_ignore_ascii_case(header) {
                    continue;
                }
                out.push((line, fields));
            }
            Err(e) => {
                let line = e
                    .position()
                    .map(|p| line_of(text, p.byte()))
                    .unwrap_or(index + 1);
                problems.push(RowProblem {
                    line,
                    message: format!("not valid CSV: {e}"),
                });
            }
        }
    }
    out
}

/// The 1-based line of a byte offset. The CSV reader's own line count skips blank lines,
/// which would send a user to the wrong line.
fn line_of(text: &str, byte: u64) -> usize {
    let bytes = text.as_bytes();
    let mut end = (byte as usize).min(bytes.len());
    // The reader's position is where it started reading, before the blank lines it skipped.
    while end < bytes.len() && matches!(bytes[end], b'\n' | b'\r') {
        end += 1;
    }
    bytes[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

fn check_sku(sku: &str) -> Result<(), String> {
    if sku.is_empty() {
        return Err("the merchant SKU is empty".into());
    }
    if sku.chars().count() > 100 || sku.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "merchant SKU `{sku}` must be at most 100 characters without spaces"
        ));
    }
    Ok(())
}

/// A GTIN-8, -12 (UPC), -13 (EAN) or -14 with a correct check digit.
pub fn check_gtin(gtin: &str) -> Result<(), String> {
    if !matches!(gtin.len(), 8 | 12 | 13 | 14) || !gtin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("GTIN `{gtin}` must be 8, 12, 13 or 14 digits"));
    }
    let digits: Vec<u32> = gtin.bytes().map(|b| u32::from(b - b'0')).collect();
    let (body, check) = digits.split_at(digits.len() - 1);
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { d * 3 } else { *d })
        .sum();
    let expected = (10 - sum % 10) % 10;
    if expected != check[0] {
        return Err(format!(
            "GTIN `{gtin}` has a wrong check digit (expected {expected})"
        ));
    }
    Ok(())
}

/// Appends the check digit to 7, 11, 12 or 13 digits (for generated sample data).
pub fn with_check_digit(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 { d * 3 } else { d }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_row_and_blank_lines_are_skipped() {
        let rows = parse_merchant_skus(
            "sku,gtin,name\n\nCUP-1,4006381333931,Cup\nCUP-2,,\"Cup, large\"\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 3);
        assert_eq!(rows[1].value.name, "Cup, large");
        assert_eq!(rows[1].value.gtin, None);
    }

    #[test]
    fn every_bad_row_is_named_by_its_line() {
        let text = "sku,gtin,name\nCUP-1,4006381333932,Cup\n,,Nameless\nCUP 3,,Spaced\nCUP-4,12345,Short\nCUP-1,,Again\n";
        let problems = parse_merchant_skus(text).unwrap_err();
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [2, 3, 4, 5]);
        assert!(
            problems[0].message.contains("check digit"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn a_duplicate_sku_names_both_lines() {
        let problems = parse_merchant_skus("A,,a\nB,,b\nA,,again\n").unwrap_err();
        assert_eq!(problems[0].line, 3);
        assert!(problems[0].message.contains("line 1"));
    }

    #[test]
    fn mappings_default_to_a_ratio_of_one_and_allow_an_empty_spec() {
        let rows = parse_mappings("offer_id,spec_id,merchant_sku,quantity_ratio\n574273466269,,CUP-1\n574273466269,abc,CUP-2,10\n").unwrap();
        assert_eq!(rows[0].value.spec_id, "");
        assert_eq!(rows[0].value.quantity_ratio, Decimal::ONE);
        assert_eq!(rows[1].value.quantity_ratio.to_string(), "10");
    }

    #[test]
    fn bad_mapping_rows_say_what_is_wrong() {
        let text = "1.5,a,X\n-3,a,X\n7,a,X,0\n7,a,X,ten\n7,b,\n8,a,X\n8,a,Y\n";
        let problems = parse_mappings(text).unwrap_err();
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 6, "{shown:?}");
        assert!(shown[0].starts_with("line 1: offer_id `1.5`"), "{shown:?}");
        assert!(shown[2].contains("quantity_ratio `0`"), "{shown:?}");
        assert!(
            shown[5].starts_with("line 7") && shown[5].contains("line 6"),
            "{shown:?}"
        );
    }

    #[test]
    fn an_export_imports_back_as_the_same_mappings() {
        let rows = parse_mappings("1,abc,CUP-1,10\n2,,CUP-2\n3,\"x,y\",CUP-3,0.5\n").unwrap();
        let values: Vec<SkuMapping> = rows.into_iter().map(|r| r.value).collect();
        let again = parse_mappings(&mappings_csv(&values)).unwrap();
        assert_eq!(
            again.into_iter().map(|r| r.value).collect::<Vec<_>>(),
            values
        );
    }

    #[test]
    fn gtin_check_digits() {
        assert!(check_gtin("4006381333931").is_ok());
        assert!(check_gtin("96385074").is_ok());
        assert!(check_gtin("036000291452").is_ok());
        assert!(check_gtin("4006381333932").is_err());
        assert_eq!(with_check_digit("400638133393"), "4006381333931");
    }
}
