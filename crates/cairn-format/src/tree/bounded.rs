//! Parsing a tree's JSON into nodes one at a time, with a bound on how
//! many there may be ([`MAX_TREE_NODES`]).
//!
//! Each node is turned into a [`Node`] as soon as it is read, so the raw
//! form of the whole list never exists beside the parsed one, and the list
//! stops growing at the bound instead of after the whole input was parsed.

use crate::limits::MAX_TREE_NODES;
use crate::node::{Node, RawNode};
use crate::{FormatError, Tree};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Parses `{"nodes":[...]}` (other keys ignored, `nodes` absent or `null`
/// for an empty tree).
pub(super) fn parse(b: &[u8]) -> Result<Tree, FormatError> {
    // A node that is valid JSON but not a valid node (a badly quoted name,
    // say) is reported with its own error, not as the JSON error that
    // stopped the parser.
    let mut node_error = None;
    let mut de = serde_json::Deserializer::from_slice(b);
    let parsed = TreeSeed {
        node_error: &mut node_error,
    }
    .deserialize(&mut de)
    .and_then(|nodes| de.end().map(|()| nodes));
    match (parsed, node_error) {
        (_, Some(e)) => Err(e),
        (Ok(nodes), None) => Ok(Tree { nodes }),
        (Err(e), None) => Err(FormatError::json("tree", e)),
    }
}

struct TreeSeed<'a> {
    node_error: &'a mut Option<FormatError>,
}

impl<'de> DeserializeSeed<'de> for TreeSeed<'_> {
    type Value = Vec<Node>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Node>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TreeSeed<'_> {
    type Value = Vec<Node>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tree object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Node>, A::Error> {
        let mut nodes = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key != "nodes" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if nodes.is_some() {
                return Err(de::Error::duplicate_field("nodes"));
            }
            nodes = Some(map.next_value_seed(NodesSeed {
                node_error: &mut *self.node_error,
            })?);
        }
        Ok(nodes.unwrap_or_default())
    }
}

struct NodesSeed<'a> {
    node_error: &'a mut Option<FormatError>,
}

impl<'de> DeserializeSeed<'de> for NodesSeed<'_> {
    type Value = Vec<Node>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Node>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for NodesSeed<'_> {
    type Value = Vec<Node>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of nodes or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<Vec<Node>, E> {
        Ok(Vec::new())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Vec<Node>, E> {
        Ok(Vec::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Node>, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Node>, A::Error> {
        // The size hint comes from the input; never trust it past a page.
        let mut nodes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(raw) = seq.next_element::<RawNode>()? {
            if nodes.len() == MAX_TREE_NODES {
                *self.node_error = Some(FormatError::TooManyNodes {
                    limit: MAX_TREE_NODES,
                });
                return Err(de::Error::custom("too many nodes"));
            }
            match raw.into_node() {
                Ok(node) => nodes.push(node),
                Err(e) => {
                    *self.node_error = Some(e);
                    return Err(de::Error::custom("invalid node"));
                }
            }
        }
        Ok(nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal_nodes(n: usize) -> Vec<u8> {
        let mut b = b"{\"nodes\":[".to_vec();
        for i in 0..n {
            if i > 0 {
                b.push(b',');
            }
            b.extend_from_slice(b"{\"name\":\"\"}");
        }
        b.extend_from_slice(b"]}");
        b
    }

    #[test]
    fn a_tree_past_the_node_limit_is_refused_at_the_limit() {
        let err = parse(&minimal_nodes(MAX_TREE_NODES + 1)).unwrap_err();
        assert!(
            matches!(err, FormatError::TooManyNodes { limit } if limit == MAX_TREE_NODES),
            "{err}"
        );
        assert_eq!(parse(&minimal_nodes(3)).unwrap().nodes.len(), 3);
    }

    #[test]
    fn absent_null_and_other_keys_are_an_empty_tree() {
        for json in [
            &b"{}"[..],
            b"{\"nodes\":null}",
            b"{\"other\":[1,{}],\"nodes\":[]}",
        ] {
            assert!(parse(json).unwrap().nodes.is_empty(), "{json:?}");
        }
    }

    #[test]
    fn bad_json_and_bad_nodes_keep_their_own_errors() {
        let dup = parse(b"{\"nodes\":[],\"nodes\":[]}").unwrap_err();
        assert!(matches!(dup, FormatError::InvalidJson { .. }), "{dup}");
        let trailing = parse(b"{\"nodes\":[]} x").unwrap_err();
        assert!(
            matches!(trailing, FormatError::InvalidJson { .. }),
            "{trailing}"
        );
        // The name `"a` holds a quote Go's strconv would not have left bare.
        let node = parse(b"{\"nodes\":[{\"name\":\"\\\"a\"}]}").unwrap_err();
        assert!(matches!(node, FormatError::InvalidQuote(_)), "{node}");
    }
}
