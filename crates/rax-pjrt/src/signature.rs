//! A best-effort reader of the `@main` signature in StableHLO text, used to
//! validate inputs before they reach the plugin (which may abort on an
//! argument count mismatch). If the text is not understood, validation is
//! skipped and the plugin's own checks apply.
use crate::element_type::ElementType;

/// One `@main` parameter: element type and dims (`None` = dynamic `?`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgSpec {
    /// Element type, if it is one [`ElementType`] models.
    pub element_type: Option<ElementType>,
    /// Dimensions, `None` for a dynamic dimension.
    pub dims: Vec<Option<i64>>,
}

/// Parses the parameter list of `@main`; `None` if not found/understood.
pub fn main_signature(text: &str) -> Option<Vec<ArgSpec>> {
    let start = text.find("@main(")? + "@main(".len();
    let rest = &text[start..];
    let mut depth = 0i32;
    let mut pieces = Vec::new();
    let mut piece_start = 0;
    let mut end = None;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '<' | '{' | '[' => depth += 1,
            ')' if depth == 0 => {
                end = Some(i);
                break;
            }
            ')' | '>' | '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                pieces.push(&rest[piece_start..i]);
                piece_start = i + 1;
            }
            _ => {}
        }
    }
    let end = end?;
    let last = rest[piece_start..end].trim();
    if !last.is_empty() {
        pieces.push(last);
    }
    pieces.iter().map(|p| parse_arg(p)).collect()
}

fn parse_arg(piece: &str) -> Option<ArgSpec> {
    let ty = piece.split_once(':')?.1.trim_start();
    let inner = ty.strip_prefix("tensor<")?;
    // Find the matching '>' of tensor<...>.
    let mut depth = 0i32;
    let mut close = None;
    for (i, c) in inner.char_indices() {
        match c {
            '<' => depth += 1,
            '>' if depth == 0 => {
                close = Some(i);
                break;
            }
            '>' => depth -= 1,
            _ => {}
        }
    }
    let body = &inner[..close?];
    // Drop an encoding attribute (`tensor<4xf32, #enc>`).
    let body = body.split(',').next()?.trim();
    let mut dims = Vec::new();
    let mut rest = body;
    loop {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '?'))
            .unwrap_or(rest.len());
        if digits > 0 && rest[digits..].starts_with('x') {
            let d = &rest[..digits];
            dims.push(if d == "?" {
                None
            } else {
                Some(d.parse().ok()?)
            });
            rest = &rest[digits + 1..];
        } else {
            break;
        }
    }
    Some(ArgSpec {
        element_type: ElementType::from_mlir(rest),
        dims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pretty_main() {
        let text = "module @m {\n  func.func public @main(%arg0: tensor<8xf32> \
                    {tf.aliasing_output = 0 : i32}, %arg1: tensor<2x?xcomplex<f32>>, \
                    %arg2: tensor<i1>) -> (tensor<8xf32>) {";
        let sig = main_signature(text).unwrap();
        assert_eq!(sig.len(), 3);
        assert_eq!(sig[0].element_type, Some(ElementType::F32));
        assert_eq!(sig[0].dims, vec![Some(8)]);
        assert_eq!(sig[1].element_type, Some(ElementType::C64));
        assert_eq!(sig[1].dims, vec![Some(2), None]);
        assert_eq!(sig[2].element_type, Some(ElementType::Pred));
        assert!(sig[2].dims.is_empty());
    }

    #[test]
    fn empty_and_missing() {
        assert_eq!(main_signature("func.func @main() -> ()"), Some(vec![]));
        assert_eq!(main_signature("func.func @other()"), None);
    }
}
