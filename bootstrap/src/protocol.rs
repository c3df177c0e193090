//! The ktx-daemon protocol as ktx sees it: the operations, each with its one-shot name
//! (`ktx-daemon <op>`, JSON on stdin and stdout) and its HTTP route on the daemon. It mirrors
//! the op table of `python/src/ktx_daemon/protocol.py`; a test compares the two.
//!
//! The names and request shapes are KTX's own (its `ktx-daemon`), so that this `ktx` could
//! drive KTX's wheel; `sql-table-identifiers` and `sql-parse-table-identifier`'s one-shot
//! name are ours.

/// One operation of ktx-daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `{sources, query, dialect}` -> `{sql, dialect, columns, plan}`.
    SemanticQuery,
    /// `{sources, dialect}` -> `{valid, errors, warnings, per_source_warnings}`.
    SemanticValidate,
    /// `{tables, links, dialect}` -> `{sources, source_count}`.
    SemanticGenerateSources,
    /// `{items: [{key, sql_table_name, dialect}]}` -> `{results: {key: {...}}}`.
    SqlParseTableIdentifier,
    /// `{sql, dialect}` -> `{tables: [{catalog, schema, table, qualified}]}` (ours).
    SqlTableIdentifiers,
    /// `{text}` -> `{embedding}`.
    EmbeddingCompute,
    /// `{texts}` -> `{embeddings}`.
    EmbeddingComputeBulk,
}

impl Op {
    pub const ALL: [Op; 7] = [
        Op::SemanticQuery,
        Op::SemanticValidate,
        Op::SemanticGenerateSources,
        Op::SqlParseTableIdentifier,
        Op::SqlTableIdentifiers,
        Op::EmbeddingCompute,
        Op::EmbeddingComputeBulk,
    ];

    /// The one-shot name: `ktx-daemon <name>`.
    pub fn name(self) -> &'static str {
        match self {
            Op::SemanticQuery => "semantic-query",
            Op::SemanticValidate => "semantic-validate",
            Op::SemanticGenerateSources => "semantic-generate-sources",
            Op::SqlParseTableIdentifier => "sql-parse-table-identifier",
            Op::SqlTableIdentifiers => "sql-table-identifiers",
            Op::EmbeddingCompute => "embedding-compute",
            Op::EmbeddingComputeBulk => "embedding-compute-bulk",
        }
    }

    /// The daemon's route (POST).
    pub fn route(self) -> &'static str {
        match self {
            Op::SemanticQuery => "/semantic-layer/query",
            Op::SemanticValidate => "/semantic-layer/validate",
            Op::SemanticGenerateSources => "/semantic-layer/generate-sources",
            Op::SqlParseTableIdentifier => "/sql/parse-table-identifier",
            Op::SqlTableIdentifiers => "/sql/table-identifiers",
            Op::EmbeddingCompute => "/embeddings/compute",
            Op::EmbeddingComputeBulk => "/embeddings/compute-bulk",
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_has_its_own_name_and_route() {
        let names: std::collections::BTreeSet<_> = Op::ALL.iter().map(|o| o.name()).collect();
        let routes: std::collections::BTreeSet<_> = Op::ALL.iter().map(|o| o.route()).collect();
        assert_eq!(names.len(), Op::ALL.len());
        assert_eq!(routes.len(), Op::ALL.len());
    }
}
