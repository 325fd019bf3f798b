from __future__ import annotations

from collections.abc import Iterator, Mapping

from graphql import FieldNode, FragmentDefinitionNode, OperationDefinitionNode, parse

from gateway.catalog_files import catalog_files, load_bundle
from gateway.settings import DEMO_CATALOG_DIR
from schema.selection import leaf_paths


class CountingFragments(Mapping[str, FragmentDefinitionNode]):
    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments, self.lookups = fragments, 0

    def __getitem__(self, name: str) -> FragmentDefinitionNode:
        self.lookups += 1
        return self.fragments[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.fragments)

    def __len__(self) -> int:
        return len(self.fragments)


def test_a_fragment_spread_twice_per_level_is_walked_once() -> None:
    # F0 spreads F1 twice, F1 spreads F2 twice, ...: walked per spread, 2^depth walks
    depth = 12
    chain = "".join(f"fragment F{i} on Person {{ ...F{i + 1} ...F{i + 1} }}\n" for i in range(depth))
    document = parse('{ person(idNumber: "440106199001011235") { ...F0 maritalStatus } }\n' + chain + f"fragment F{depth} on Person {{ name housingSecurity {{ status }} }}")
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    root = operation.selection_set.selections[0]
    assert isinstance(root, FieldNode)
    fragments = CountingFragments({d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)})
    person = load_bundle(catalog_files(DEMO_CATALOG_DIR)).schema.entities["Person"]
    paths = leaf_paths(person, root.selection_set, fragments)
    assert paths == ["Person.name", "Person.housingSecurity.status", "Person.maritalStatus"]
    assert fragments.lookups <= 2 * depth + 1  # 2^12 = 4096 without remembering walked fragments
