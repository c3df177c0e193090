//! The runtime features: what each one installs (the wheel's extra), what it downloads (said
//! before asking), and the Python that proves it works once installed.

use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Feature {
    /// The wheel with its default dependencies: the semantic layer, SQL parsing, the daemon.
    Core,
    /// sentence-transformers and torch, for `ktx embed` (never installed by default).
    LocalEmbeddings,
}

impl Feature {
    pub fn name(self) -> &'static str {
        match self {
            Feature::Core => "core",
            Feature::LocalEmbeddings => "local-embeddings",
        }
    }

    /// The wheel's extra that adds this feature (`None`: the base install).
    pub fn extra(self) -> Option<&'static str> {
        match self {
            Feature::Core => None,
            Feature::LocalEmbeddings => Some("local-embeddings"),
        }
    }

    /// Python statements that import what the feature adds beyond the wheel's own packages;
    /// they fail when the feature is broken.
    pub fn probe(self) -> &'static str {
        match self {
            Feature::Core => "",
            Feature::LocalEmbeddings => "import sentence_transformers, torch",
        }
    }

    /// What installing it downloads, for the question asked before.
    pub fn downloads(self) -> &'static str {
        match self {
            Feature::Core => "",
            Feature::LocalEmbeddings => {
                "sentence-transformers and torch (about 2 GB of Python packages on Linux, less on \
                 macOS) and, on first use, the all-MiniLM-L6-v2 model (about 90 MB)"
            }
        }
    }
}

impl std::fmt::Display for Feature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_written_as_their_names() {
        assert_eq!(
            serde_json::to_string(&[Feature::Core, Feature::LocalEmbeddings]).unwrap(),
            r#"["core","local-embeddings"]"#
        );
        let back: Vec<Feature> = serde_json::from_str(r#"["local-embeddings"]"#).unwrap();
        assert_eq!(back, [Feature::LocalEmbeddings]);
        assert_eq!(Feature::LocalEmbeddings.extra(), Some("local-embeddings"));
    }
}
