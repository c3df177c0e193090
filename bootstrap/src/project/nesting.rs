//! How deep a YAML text nests, measured in one linear pass over its bytes before any parser
//! sees it.
//!
//! libyaml (under `serde_norway`) spends time per token proportional to the open flow levels,
//! so `{a: {a: {a: ...` is quadratic: 200 KB took 74 s, and a planted parent `ktx.yaml` hung
//! every `ktx sl` below it. `check` counts the open collections (flow `[`/`{` outside quoted
//! and plain scalars, comments and block scalars; block collections by the columns of their
//! keys and `-` entries) and stops at the first level over `MAX_NESTING`.
//!
//! Where the scan cannot be sure what the parser sees, it errs towards counting more: a quote
//! opens only where YAML starts a node (the parser's own rule), a `[` or `{` in flow context
//! always counts. So a file cannot hide nesting from the scan by making it believe a quote or
//! a plain scalar is open where the parser does not; the price is that unbalanced brackets in
//! odd places of an invalid file count too.

/// The deepest nesting of collections a project YAML file may have. KTX files nest a handful
/// of levels (a shard: tables -> entry -> columns -> column -> constraints -> dbt is 6); 64
/// leaves room for anything hand-written, stays under serde_norway's own recursion limit of
/// 128 (so the refusal is ours, named, and comes before the parser), and bounds libyaml's
/// per-token work to 64 open levels, which keeps the parse linear.
pub const MAX_NESTING: usize = 64;

/// Where the nesting went over `MAX_NESTING`: the 1-based line.
#[derive(Debug, PartialEq, Eq)]
pub struct TooDeep {
    pub line: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tok {
    /// A node may start here (a quote opens, `[`/`{` opens a flow collection).
    Start,
    /// Inside a plain scalar: quotes are characters, and in block context so are brackets.
    Plain,
    /// After a node (a quoted scalar, an alias, a closed flow collection).
    After,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Indent {
    Known(usize),
    Blanks(usize),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Map,
    Seq,
}

struct Scan {
    line: usize,
    flow: usize,
    /// Open block collections: (column, kind), columns non-decreasing.
    block: Vec<(usize, Kind)>,
    tok: Tok,
    /// The column where the current node started on this line (for a key: its mapping).
    node_col: usize,
    /// The column of the anchor or tag in front of the next node: the node starts there.
    props_col: Option<usize>,
    /// An open quoted scalar (`'` or `"`), possibly spanning lines.
    quote: Option<u8>,
    /// A block plain scalar ended the previous line: lines indented more than this continue it.
    plain_parent: Option<isize>,
    /// Inside a block scalar (`|`, `>`): its parent's column and its indentation, or while
    /// that is not known yet, the most spaces of the blank lines so far (libyaml's rule: the
    /// indentation is the larger of those and the first content line's).
    scalar: Option<(isize, Indent)>,
}

fn ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r')
}

fn flow_indicator(b: u8) -> bool {
    matches!(b, b',' | b'[' | b']' | b'{' | b'}')
}

/// Check that `text` nests at most `MAX_NESTING` levels, in one pass.
pub fn check(text: &str) -> Result<(), TooDeep> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut s = Scan {
        line: 0,
        flow: 0,
        block: Vec::new(),
        tok: Tok::Start,
        node_col: 0,
        props_col: None,
        quote: None,
        plain_parent: None,
        scalar: None,
    };
    for line in text.as_bytes().split(|&b| b == b'\n') {
        s.line += 1;
        s.scan_line(line)?;
    }
    Ok(())
}

impl Scan {
    fn too_deep(&self) -> Result<(), TooDeep> {
        if self.flow + self.block.len() > MAX_NESTING {
            return Err(TooDeep { line: self.line });
        }
        Ok(())
    }

    fn parent_col(&self) -> isize {
        self.block.last().map(|&(c, _)| c as isize).unwrap_or(-1)
    }

    /// A block collection of `kind` at `col` (a `-` entry or a key), if it is a new one.
    fn open_block(&mut self, col: usize, kind: Kind) -> Result<(), TooDeep> {
        // A key at the column of an indentless sequence ends that sequence.
        if kind == Kind::Map && self.block.last() == Some(&(col, Kind::Seq)) {
            self.block.pop();
        }
        match self.block.last() {
            Some(&(c, k)) if c == col && (k == kind || kind == Kind::Map) => return Ok(()),
            Some(&(c, _)) if c > col => return Ok(()),
            _ => {}
        }
        self.block.push((col, kind));
        self.too_deep()
    }

    /// Skip to the end of a quoted scalar opened with `q`; the index after it, or None when it
    /// goes on past this line.
    fn close_quote(&mut self, l: &[u8], mut i: usize, q: u8) -> Option<usize> {
        while i < l.len() {
            let b = l[i];
            if q == b'"' && b == b'\\' {
                i += 2;
                continue;
            }
            if b == q {
                if q == b'\'' && l.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                self.quote = None;
                return Some(i + 1);
            }
            i += 1;
        }
        self.quote = Some(q);
        None
    }

    fn scan_line(&mut self, l: &[u8]) -> Result<(), TooDeep> {
        // A key cannot span lines: properties on an earlier line do not place it.
        self.props_col = None;
        let lead = l.iter().take_while(|&&b| b == b' ').count();
        let blank = l[lead..].iter().all(|&b| ws(b));
        if let Some((parent, indent)) = self.scalar {
            match indent {
                Indent::Known(_) if blank => return Ok(()),
                Indent::Blanks(most) if blank => {
                    self.scalar = Some((parent, Indent::Blanks(most.max(lead))));
                    return Ok(());
                }
                Indent::Known(m) if lead >= m => return Ok(()),
                Indent::Blanks(most) => {
                    let m = most.max((parent + 1).max(1) as usize);
                    if lead >= m {
                        self.scalar = Some((parent, Indent::Known(m.max(lead))));
                        return Ok(());
                    }
                    self.scalar = None;
                }
                Indent::Known(_) => self.scalar = None,
            }
        }
        let mut i = 0;
        if let Some(q) = self.quote {
            match self.close_quote(l, 0, q) {
                Some(next) => {
                    i = next;
                    self.tok = Tok::After;
                }
                None => return Ok(()),
            }
        } else if self.flow == 0 {
            if blank {
                return Ok(());
            }
            if l[lead] == b'#' {
                self.plain_parent = None;
                return Ok(());
            }
            let rest = &l[lead..];
            let marker = lead == 0
                && (rest.starts_with(b"---") || rest.starts_with(b"..."))
                && rest.get(3).is_none_or(|&b| ws(b));
            let continues = !marker
                && self
                    .plain_parent
                    .is_some_and(|parent| lead as isize > parent);
            self.plain_parent = None;
            if continues {
                i = lead;
                self.tok = Tok::Plain;
            } else {
                if marker {
                    self.block.clear();
                    i = 3;
                } else if lead == 0 && rest[0] == b'%' {
                    return Ok(()); // a directive
                } else {
                    while self.block.last().is_some_and(|&(c, _)| c > lead) {
                        self.block.pop();
                    }
                    i = lead;
                }
                self.tok = Tok::Start;
            }
        }
        self.scan(l, i)?;
        if self.flow == 0 && self.quote.is_none() && self.scalar.is_none() {
            self.plain_parent = (self.tok == Tok::Plain).then(|| self.parent_col());
        }
        Ok(())
    }

    fn scan(&mut self, l: &[u8], mut i: usize) -> Result<(), TooDeep> {
        // A newline is whitespace: a `#` at the start of a continued line is a comment.
        let mut prev_ws = true;
        while i < l.len() {
            let b = l[i];
            let next = l.get(i + 1).copied();
            let next_ws = next.is_none_or(ws);
            if ws(b) {
                prev_ws = true;
                i += 1;
                continue;
            }
            // libyaml: a comment at any token start; inside a plain scalar, after whitespace.
            if b == b'#' && (prev_ws || self.tok != Tok::Plain) {
                if self.tok == Tok::Plain {
                    self.tok = Tok::After; // a comment ends a plain scalar
                }
                return Ok(());
            }
            prev_ws = false;
            if self.flow > 0 {
                self.flow_byte(l, &mut i, b, next, next_ws)?;
            } else if self.block_byte(l, &mut i, b, next_ws)? {
                return Ok(()); // a block scalar's header ends the line
            }
        }
        Ok(())
    }

    fn open_flow(&mut self) -> Result<(), TooDeep> {
        self.flow += 1;
        self.tok = Tok::Start;
        self.too_deep()
    }

    fn close_flow(&mut self) {
        self.flow = self.flow.saturating_sub(1);
        self.tok = Tok::After;
    }

    /// Skip an anchor, tag or alias name (up to whitespace or, in flow, a flow indicator).
    fn skip_name(&self, l: &[u8], i: &mut usize) {
        *i += 1;
        while *i < l.len() && !ws(l[*i]) && !(self.flow > 0 && flow_indicator(l[*i])) {
            *i += 1;
        }
    }

    fn flow_byte(
        &mut self,
        l: &[u8],
        i: &mut usize,
        b: u8,
        next: Option<u8>,
        next_ws: bool,
    ) -> Result<(), TooDeep> {
        match (self.tok, b) {
            // Flow indicators end a plain scalar too: in flow they always count.
            (_, b'[' | b'{') => self.open_flow()?,
            (_, b']' | b'}') => self.close_flow(),
            (_, b',') => self.tok = Tok::Start,
            (Tok::Plain, b':') if next_ws || next.is_some_and(flow_indicator) => {
                self.tok = Tok::Start
            }
            (Tok::Plain, _) => {}
            // A token starts here (libyaml's tokenizer: what follows a node starts a token
            // too, whether or not the parser will accept it).
            (_, b'\'' | b'"') => {
                self.tok = Tok::After;
                *i = self.close_quote(l, *i + 1, b).unwrap_or(l.len());
                return Ok(());
            }
            (_, b'&' | b'!') => {
                self.skip_name(l, i);
                self.tok = Tok::Start;
                return Ok(());
            }
            (_, b'*') => {
                self.skip_name(l, i);
                self.tok = Tok::After;
                return Ok(());
            }
            // In flow, `?` and `:` at a token start are always indicators (libyaml).
            (_, b'?' | b':') => self.tok = Tok::Start,
            (_, b'-') if next_ws => self.tok = Tok::Start,
            _ => self.tok = Tok::Plain,
        }
        *i += 1;
        Ok(())
    }

    /// One byte in block context; true when the rest of the line is a block scalar's header.
    fn block_byte(
        &mut self,
        l: &[u8],
        i: &mut usize,
        b: u8,
        next_ws: bool,
    ) -> Result<bool, TooDeep> {
        if b == b':' && next_ws && self.tok != Tok::Start {
            // The end of a key (a plain or quoted scalar, an alias, a flow collection).
            self.open_block(self.node_col, Kind::Map)?;
            self.tok = Tok::Start;
            *i += 1;
            return Ok(false);
        }
        if self.tok == Tok::Plain {
            *i += 1;
            return Ok(false);
        }
        // A token starts here; as libyaml's tokenizer, whether or not it follows a node.
        match b {
            b'[' | b'{' => {
                self.node_col = self.props_col.take().unwrap_or(*i);
                self.open_flow()?;
            }
            b']' | b'}' => {
                self.props_col = None;
                self.close_flow();
            }
            b',' => {
                self.props_col = None;
                self.tok = Tok::Start;
            }
            b'\'' | b'"' => {
                self.node_col = self.props_col.take().unwrap_or(*i);
                self.tok = Tok::After;
                *i = self.close_quote(l, *i + 1, b).unwrap_or(l.len());
                return Ok(false);
            }
            b'|' | b'>' => {
                let parent = self.parent_col();
                let digit = l[*i + 1..]
                    .iter()
                    .take(2)
                    .find(|c| c.is_ascii_digit() && **c != b'0')
                    .map(|c| (c - b'0') as usize);
                let indent = match digit {
                    Some(d) => Indent::Known(parent.max(0) as usize + d),
                    None => Indent::Blanks(0),
                };
                self.scalar = Some((parent, indent));
                self.tok = Tok::After;
                *i = l.len();
                return Ok(true);
            }
            b'&' | b'!' => {
                self.props_col.get_or_insert(*i);
                self.skip_name(l, i);
                self.tok = Tok::Start;
                return Ok(false);
            }
            b'*' => {
                self.node_col = self.props_col.take().unwrap_or(*i);
                self.skip_name(l, i);
                self.tok = Tok::After;
                return Ok(false);
            }
            b'-' if next_ws => {
                self.props_col = None;
                self.open_block(*i, Kind::Seq)?;
                self.tok = Tok::Start;
            }
            b'?' | b':' if next_ws => {
                self.props_col = None;
                self.tok = Tok::Start;
            }
            _ => {
                self.node_col = self.props_col.take().unwrap_or(*i);
                self.tok = Tok::Plain;
            }
        }
        *i += 1;
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(text: &str) -> bool {
        check(text).is_ok()
    }

    #[test]
    fn real_ktx_files_pass() {
        for text in [
            include_str!("../../../fixtures/projects/tour/ktx.yaml"),
            "tables:\n  a:\n    table: t\n    columns:\n      - {name: id, type: int, pk: true, constraints: {dbt: {not_null: true}}}\n",
            "name: o\nsql: |\n  select [[[[ {{{{ from x\n  where a = '[[['\ngrain: [id]\nmeasures:\n  - name: m\n    expr: \"sum(x[1])\"\n    filter: it's [open\n",
            "description: a long plain scalar\n  continued [[[[ on a line\n  and {{{ another\nname: x\n",
            "a: 'multi [[[\n  line [[[['\nb: \"x \\\" [[[\"\n",
            "# [[[[[[[[[[\nk: v # {{{{{{{{\n",
        ] {
            assert!(depth_ok(text), "{text}");
        }
    }

    #[test]
    fn brackets_inside_strings_comments_and_scalars_do_not_count() {
        let deep = "[".repeat(200);
        for text in [
            format!("a: '{deep}'\n"),
            format!("a: \"{deep}\"\n"),
            format!("a: x{deep}\n"),
            format!("# {deep}\n"),
            format!("a: |\n  {deep}\n  {deep}\nb: 1\n"),
            format!("a: >2\n   {deep}\n"),
            format!("[it's, {}]\n", "a".repeat(10)),
            format!("a: plain\n  {deep}\n"),
        ] {
            assert!(depth_ok(&text), "{text}");
        }
    }

    #[test]
    fn flow_nesting_over_the_cap_is_found_on_its_line() {
        let ok = "[".repeat(MAX_NESTING) + &"]".repeat(MAX_NESTING);
        assert!(depth_ok(&ok));
        let over = "x: 1\n".to_string() + &"[".repeat(MAX_NESTING + 1);
        assert_eq!(check(&over), Err(TooDeep { line: 2 }));
        assert!(!depth_ok(&"{a: ".repeat(100_000)));
        assert!(!depth_ok(&"[{".repeat(50)));
    }

    #[test]
    fn block_nesting_counts_keys_and_dashes() {
        let mut keys = String::new();
        for i in 0..=MAX_NESTING {
            keys.push_str(&" ".repeat(i));
            keys.push_str("a:\n");
        }
        assert!(!depth_ok(&keys));
        assert!(!depth_ok(&("- ".repeat(MAX_NESTING + 1) + "x\n")));
        let mut dashes = String::new();
        for i in 0..=MAX_NESTING {
            dashes.push_str(&" ".repeat(2 * i));
            dashes.push_str("-\n");
        }
        assert!(!depth_ok(&dashes));
        // siblings do not add up
        assert!(depth_ok(&"a: 1\n".repeat(10_000)));
        assert!(depth_ok(&"- a: 1\n  b: [1, 2]\n".repeat(10_000)));
    }

    #[test]
    fn a_quote_the_parser_does_not_see_cannot_hide_nesting() {
        let deep = "[".repeat(MAX_NESTING + 1);
        for text in [
            // a plain scalar with a quote inside, then nesting
            format!("a: it's\n{deep}\n"),
            format!("a: b\n  'c\n{deep}\n"),
            format!("[a\n'b, {deep}\n"),
            format!("[a 'b', {deep}]\n"),
            format!("key: \"closed\" \n{deep}\n"),
        ] {
            assert!(!depth_ok(&text), "{text}");
        }
    }

    #[test]
    fn the_scan_is_linear() {
        let big = "{a: ".repeat(250_000); // 1 MB
        let t = std::time::Instant::now();
        assert!(check(&big).is_err());
        let ok = "k: [1, {a: 'x', b: \"y\"}] # c\n".repeat(40_000);
        assert!(check(&ok).is_ok());
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }
}
