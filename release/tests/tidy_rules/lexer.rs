//! A Rust lexer just good enough to find string literals, identifiers and brackets.

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Str(String),
    Ident(String),
    Punct(char),
}

pub struct Token {
    pub tok: Tok,
    pub line: usize,
}

pub fn lex(src: &str) -> Vec<Token> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let count_lines = |s: &[char]| s.iter().filter(|&&ch| ch == '\n').count();
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            let (start, mut depth) = (i, 0);
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            line += count_lines(&c[start..i.min(c.len())]);
        } else if ch == '"'
            || ((ch == 'r' || ch == 'b' || ch == 'c')
                && matches!(c.get(i + 1), Some('"') | Some('#') | Some('r'))
                && (i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_'))
                && string_start(&c, i).is_some())
        {
            let start_line = line;
            let (hashes, raw, body_start) = string_start(&c, i).unwrap_or((0, false, i + 1));
            let mut j = body_start;
            let mut s = String::new();
            while j < c.len() {
                if !raw && c[j] == '\\' {
                    s.push(c[j]);
                    if let Some(&n) = c.get(j + 1) {
                        s.push(n);
                    }
                    j += 2;
                    continue;
                }
                if c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#')) {
                    break;
                }
                s.push(c[j]);
                j += 1;
            }
            line += count_lines(&c[i..j.min(c.len())]);
            out.push(Token {
                tok: Tok::Str(s),
                line: start_line,
            });
            i = j + 1 + hashes;
        } else if ch == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a, 'static).
            if c.get(i + 1) == Some(&'\\') {
                let mut j = i + 2;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if ch.is_alphanumeric() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(c[start..i].iter().collect()),
                line,
            });
        } else {
            out.push(Token {
                tok: Tok::Punct(ch),
                line,
            });
            i += 1;
        }
    }
    out
}

/// At `i`, a string literal's (number of `#`, raw, index of its first character).
pub fn string_start(c: &[char], i: usize) -> Option<(usize, bool, usize)> {
    let mut j = i;
    if matches!(c.get(j), Some('b') | Some('c')) {
        j += 1;
    }
    let raw = c.get(j) == Some(&'r');
    if raw {
        j += 1;
    }
    let mut hashes = 0;
    while raw && c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (c.get(j) == Some(&'"')).then_some((hashes, raw, j + 1))
}

/// The tokens of the body of `fn name` (between its braces), if the file defines it.
pub fn fn_body<'a>(toks: &'a [Token], name: &str) -> Option<&'a [Token]> {
    let at = toks
        .windows(2)
        .position(|w| w[0].tok == Tok::Ident("fn".into()) && w[1].tok == Tok::Ident(name.into()))?;
    let open = at + toks[at..].iter().position(|t| t.tok == Tok::Punct('{'))?;
    let mut depth = 0;
    for (k, t) in toks[open..].iter().enumerate() {
        match t.tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    return Some(&toks[open + 1..open + k]);
                }
            }
            _ => {}
        }
    }
    None
}
