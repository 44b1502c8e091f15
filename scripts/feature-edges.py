#!/usr/bin/env python3
"""feature-edges.py [-v] [PORTAL_DIR]

Lists, for each feature folder under src/Portal/Features, the other feature folders it uses,
then the edge count and the pairs that use each other both ways (the walls must run one way).
With -v, each edge also lists the names it uses.

A file in folder G uses feature F when it names one of F's types, components or extension
methods and can see F's namespace: by a `using Paddock.Portal.Features.F` (its own, a global
using, or an _Imports.razor above it); or when it qualifies a name with `Features.F.`, or with
`F.` alone (a sibling namespace resolves so from inside another feature's), unless the file has a
member called F (`@inject VmService Vms`). Comments and plain string literals are left out; names
G declares itself are not counted (its own win in C#). A using whose names are never used is no
edge.
"""
import pathlib
import re
import sys

VERBOSE = "-v" in sys.argv[1:]
ARGS = [a for a in sys.argv[1:] if a != "-v"]
ROOT = pathlib.Path(ARGS[0] if ARGS else pathlib.Path(__file__).resolve().parent.parent / "src/Portal")
FEATURES = ROOT / "Features"

# Types and extension methods others can name (a private nested type is nobody else's).
TYPE_DECL = re.compile(r"(?<!private )(?<!private sealed )(?<!private static )\b(?:class|record|struct|interface|enum)\s+(?:struct\s+|class\s+)?([A-Z]\w*)")
EXTENSION = re.compile(r"\bstatic\s+[\w<>\[\]?,. ]+?\s+([A-Z]\w*)\s*(?:<[^>]*>)?\s*\(\s*this\b")
USING = re.compile(r"^\s*@?(?:global\s+)?using\s+(?:static\s+)?(Paddock\.Portal\.Features\.(\w+))\s*;?\s*$", re.M)
# Features.F.Name anywhere; F.Name from inside another feature's namespace (a sibling resolves without the prefix).
QUALIFIED = re.compile(r"\bFeatures\.(\w+)\.")
SIBLING = re.compile(r"(?<![\w.])(\w+)\.[A-Z]")
WORD = re.compile(r"\b[A-Za-z_]\w*\b")


def strip(text: str) -> str:
    """Drops comments (//, /* */, @* *@) and the insides of plain (not interpolated) string literals."""
    text = re.sub(r"@\*.*?\*@", " ", text, flags=re.S)
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"(?<![:\"])//[^\n]*", " ", text)
    return re.sub(r'(?<![$\w])"(?:\\.|[^"\\\n])*"', '""', text)


def member_named(text: str, name: str) -> bool:
    """Whether the file has a member called like a feature (`@inject VmService Vms`): `Vms.X` is then that member."""
    return re.search(rf"@inject\s+\S+\s+{name}\b|\b[\w<>?,\[\]]+\s+{name}\s*(?:{{|;|=)", text) is not None


def sources(folder: pathlib.Path):
    return sorted(p for p in folder.rglob("*") if p.suffix in (".cs", ".razor") and p.name != "_Imports.razor")


def feature_of(path: pathlib.Path) -> str:
    return path.relative_to(FEATURES).parts[0]


def declared_names(features, texts):
    """What each feature declares that others can name: types, components (a .razor file is one) and extension methods."""
    declared = {f: set() for f in features}
    for path, text in texts.items():
        names = declared[feature_of(path)]
        names.update(TYPE_DECL.findall(text))
        names.update(EXTENSION.findall(text))
        if path.suffix == ".razor":
            names.add(path.stem)
    return declared


def visible_features(path, text, global_usings):
    """The feature namespaces a file sees: global usings, its own usings, and for a component the _Imports.razor above it."""
    visible = set(global_usings) | {m.group(2) for m in USING.finditer(text)}
    if path.suffix == ".razor":
        folder = path.parent
        while folder != ROOT.parent:
            imports = folder / "_Imports.razor"
            if imports.exists():
                visible |= {m.group(2) for m in USING.finditer(imports.read_text(encoding="utf-8"))}
            folder = folder.parent
    return visible


def feature_edges(features):
    """For each feature: the features it uses, each with the files and the names that use it."""
    texts = {p: strip(p.read_text(encoding="utf-8")) for f in features for p in sources(FEATURES / f)}
    declared = declared_names(features, texts)
    global_usings = set()
    for path in ROOT.rglob("*.cs"):
        if "/obj/" not in str(path) and "/bin/" not in str(path):
            global_usings.update(m.group(2) for m in re.finditer(r"^\s*global\s+using\s+(?:static\s+)?Paddock\.Portal\.Features\.(\w+)\s*;", path.read_text(encoding="utf-8"), re.M))

    edges = {f: {} for f in features}
    for path, text in texts.items():
        own = feature_of(path)
        body = USING.sub(" ", text)
        words = set(WORD.findall(body))
        used = {f: words & (declared[f] - declared[own]) for f in visible_features(path, text, global_usings) & set(features) if f != own}
        qualified = set(QUALIFIED.findall(body)) | {f for f in SIBLING.findall(body) if not member_named(body, f)}
        for f in qualified & set(features) - {own}:
            used.setdefault(f, set()).add(f"{f}.")
        for f, names in used.items():
            if names:
                edges[own].setdefault(f, {})[path.name] = names
    return edges


def main() -> int:
    features = sorted(p.name for p in FEATURES.iterdir() if p.is_dir())
    edges = feature_edges(features)
    for f in features:
        targets = sorted(edges[f])
        print(f"{f} -> {', '.join(targets) if targets else '(none)'}")
        if VERBOSE:
            for t in targets:
                for file, names in sorted(edges[f][t].items()):
                    print(f"    {t}: {file}: {' '.join(sorted(names))}")
    mutual = sorted((a, b) for a in features for b in edges[a] if a < b and a in edges[b])
    print(f"edges: {sum(len(e) for e in edges.values())}")
    print(f"mutual pairs: {len(mutual)}")
    for a, b in mutual:
        print(f"  {a} <-> {b}   ({a}: {', '.join(sorted(edges[a][b]))}; {b}: {', '.join(sorted(edges[b][a]))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
