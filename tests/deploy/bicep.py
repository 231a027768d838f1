"""The Bicep templates as the deployment tests see them.

No Bicep compiler runs here, so the templates are parsed with the tree-sitter Bicep grammar and read into a
small model: each file's parameters, variables, resources (nested ones with their full type), modules and
outputs. Literals become Python values (objects dicts, arrays lists, plain strings str); anything else
(references, function calls, interpolated strings) stays an `Expr` holding its source text, which the
helpers below follow through variables, module parameters and module outputs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import tree_sitter
import tree_sitter_bicep

REPO = Path(__file__).resolve().parents[2]
AZURE = REPO / "infra" / "azure"
MAIN = AZURE / "main.bicep"

_PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))
_ESCAPES = {"\\'": "'", "\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\t": "\t", "\\$": "$"}


@dataclass(frozen=True)
class Expr:
    """A Bicep expression that is not a plain literal, as its source text."""

    text: str


type Value = str | int | bool | list["Value"] | dict[str, "Value"] | Expr | None


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Value
    has_default: bool
    decorators: tuple[str, ...]


@dataclass(frozen=True)
class Output:
    name: str
    type: str
    value: Value
    decorators: tuple[str, ...]


@dataclass(frozen=True)
class Resource:
    symbol: str
    path: str  # the symbol with its enclosing resources: account::database::events
    type: str  # the full resource type, nested resources included
    api_version: str
    existing: bool
    loop_source: str | None  # the collection a [for ...] loop runs over
    condition: str | None  # the `if (...)` condition
    body: dict[str, Value]
    decorators: tuple[str, ...]

    @property
    def name(self) -> Value:
        return self.body.get("name")

    @property
    def properties(self) -> dict[str, Value]:
        properties = self.body.get("properties", {})
        assert isinstance(properties, dict), (self.path, properties)
        return properties


@dataclass(frozen=True)
class Module:
    symbol: str
    path: str
    body: dict[str, Value]

    @property
    def params(self) -> dict[str, Value]:
        params = self.body.get("params", {})
        assert isinstance(params, dict), (self.symbol, params)
        return params


@dataclass
class BicepFile:
    path: Path
    text: str
    target_scope: str = "resourceGroup"
    params: dict[str, Param] = field(default_factory=dict)
    variables: dict[str, Value] = field(default_factory=dict)
    resources: list[Resource] = field(default_factory=list)
    modules: list[Module] = field(default_factory=list)
    outputs: dict[str, Output] = field(default_factory=dict)

    @property
    def relative(self) -> str:
        return self.path.relative_to(AZURE).as_posix()

    def resource(self, symbol: str) -> Resource:
        """The resource by its symbol, or by its nested path (account::database)."""
        found = [r for r in self.resources if symbol in (r.symbol, r.path)]
        assert len(found) == 1, (self.relative, symbol, [r.path for r in self.resources])
        return found[0]

    def of_type(self, resource_type: str, *, existing: bool = False) -> list[Resource]:
        return [
            r for r in self.resources if r.type.lower() == resource_type.lower() and r.existing == existing
        ]

    def module(self, symbol: str) -> Module:
        found = [m for m in self.modules if m.symbol == symbol]
        assert len(found) == 1, (self.relative, symbol)
        return found[0]


# --- parsing ---


def parse(source: bytes) -> tree_sitter.Tree:
    return _PARSER.parse(source)


def syntax_problems(tree: tree_sitter.Tree) -> list[str]:
    """Every ERROR and MISSING node, as `line:column: what`."""
    problems = []
    for node in _walk(tree.root_node):
        if node.type == "ERROR" or node.is_missing:
            line, column = node.start_point
            kind = f"missing {node.type}" if node.is_missing else "syntax error"
            problems.append(f"{line + 1}:{column + 1}: {kind} near {_text(node)[:40]!r}")
    return problems


def bicep_files() -> list[Path]:
    return sorted(AZURE.rglob("*.bicep"))


@cache
def load(path: Path) -> BicepFile:
    source = path.read_bytes()
    tree = parse(source)
    problems = syntax_problems(tree)
    assert not problems, (path, problems)
    bicep = BicepFile(path=path, text=source.decode())
    decorators: tuple[str, ...] = ()
    for node in _named(tree.root_node):
        if node.type == "decorators":
            decorators = tuple(_text(child) for child in _named(node))
            continue
        _declare(bicep, node, decorators)
        decorators = ()
    return bicep


def by_relative(relative: str) -> BicepFile:
    return load(AZURE / relative)


def _declare(bicep: BicepFile, node: tree_sitter.Node, decorators: tuple[str, ...]) -> None:
    children = _named(node)
    if node.type == "target_scope_assignment":
        scope = to_value(children[-1])
        assert isinstance(scope, str)
        bicep.target_scope = scope
    elif node.type == "parameter_declaration":
        name, type_node, *default = children
        bicep.params[_text(name)] = Param(
            _text(name),
            _text(type_node),
            to_value(default[0]) if default else None,
            bool(default),
            decorators,
        )
    elif node.type == "variable_declaration":
        name, value = children[0], children[-1]
        bicep.variables[_text(name)] = to_value(value)
    elif node.type == "output_declaration":
        name, type_node, value = children[0], children[1], children[-1]
        bicep.outputs[_text(name)] = Output(_text(name), _text(type_node), to_value(value), decorators)
    elif node.type == "module_declaration":
        name, path, body = children[0], children[1], children[-1]
        module_path = to_value(path)
        assert isinstance(module_path, str)
        bicep.modules.append(Module(_text(name), module_path, _body(body)[0]))
    elif node.type == "resource_declaration":
        _declare_resource(bicep, node, decorators, parent=None)


def _declare_resource(
    bicep: BicepFile, node: tree_sitter.Node, decorators: tuple[str, ...], parent: Resource | None
) -> None:
    children = _named(node)
    name, type_node, body_node = children[0], children[1], children[-1]
    type_and_version = to_value(type_node)
    assert isinstance(type_and_version, str)
    resource_type, _, api_version = type_and_version.partition("@")
    if parent is not None:
        resource_type = f"{parent.type}/{resource_type}"
        api_version = api_version or parent.api_version
    body, loop_source, condition, object_node = _body(body_node)
    resource = Resource(
        symbol=_text(name),
        path=_text(name) if parent is None else f"{parent.path}::{_text(name)}",
        type=resource_type,
        api_version=api_version,
        existing=any(child.type == "existing" for child in node.children),
        loop_source=loop_source,
        condition=condition,
        body=body,
        decorators=decorators,
    )
    bicep.resources.append(resource)
    for prop in _named(object_node):
        nested = [child for child in _named(prop) if child.type == "resource_declaration"]
        for child in nested:
            _declare_resource(bicep, child, (), parent=resource)


def _body(
    node: tree_sitter.Node,
) -> tuple[dict[str, Value], str | None, str | None, tree_sitter.Node]:
    """A resource or module body: its object, the loop's collection and the condition, if any."""
    loop_source: str | None = None
    condition: str | None = None
    if node.type == "for_statement":
        named = _named(node)
        loop_source = _text(named[-2])
        node = named[-1]
    if node.type == "if_statement":
        named = _named(node)
        condition = _text(named[0])
        node = named[-1]
    value = to_value(node)
    assert isinstance(value, dict), _text(node)
    return value, loop_source, condition, node


def to_value(node: tree_sitter.Node) -> Value:
    """A literal as a Python value; anything else as an Expr."""
    if node.type == "object":
        result: dict[str, Value] = {}
        for prop in _named(node):
            parts = _named(prop)
            if len(parts) != 2:  # a nested resource declaration
                continue
            key = to_value(parts[0]) if parts[0].type == "string" else _text(parts[0])
            result[key.text if isinstance(key, Expr) else str(key)] = to_value(parts[1])
        return result
    if node.type == "array":
        return [to_value(item) for item in _named(node)]
    if node.type == "string":
        pieces = []
        for part in _named(node):
            if part.type == "string_content":
                pieces.append(_text(part))
            elif part.type == "escape_sequence" and _text(part) in _ESCAPES:
                pieces.append(_ESCAPES[_text(part)])
            else:
                return Expr(_text(node))
        return "".join(pieces)
    if node.type == "number" and re.fullmatch(r"-?\d+", _text(node)):
        return int(_text(node))
    if node.type == "boolean":
        return _text(node) == "true"
    if node.type == "null":
        return None
    return Expr(_text(node))


def _walk(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _named(node: tree_sitter.Node) -> list[tree_sitter.Node]:
    return [child for child in node.named_children if child.type != "comment"]


def _text(node: tree_sitter.Node) -> str:
    return (node.text or b"").decode()


# --- following references ---

_REFERENCE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


def resolve(bicep: BicepFile, value: Value) -> Value:
    """A variable reference (`roles.storageBlobDataOwner`) replaced by the variable's value, recursively."""
    if not isinstance(value, Expr) or not _REFERENCE.fullmatch(value.text):
        return value
    head, *members = value.text.split(".")
    if head not in bicep.variables:
        return value
    current = resolve(bicep, bicep.variables[head])
    for member in members:
        if not isinstance(current, dict) or member not in current:
            return value
        current = resolve(bicep, current[member])
    return current


@dataclass(frozen=True)
class Origin:
    """Where a value comes from: the file and the value there, after parameters and outputs are followed."""

    file: BicepFile
    value: Value


def trace(bicep: BicepFile, value: Value) -> Origin:
    """Follows variables, a module's parameters back to main.bicep's arguments, and `x.outputs.y` into
    module x's output y, until the value is neither."""
    value = resolve(bicep, value)
    if not isinstance(value, Expr):
        return Origin(bicep, value)
    text = value.text
    if text in bicep.params and bicep.path != MAIN:
        main = load(MAIN)
        [module] = [m for m in main.modules if (MAIN.parent / m.path).resolve() == bicep.path.resolve()]
        assert text in module.params, (bicep.relative, "parameter not passed", text)
        return trace(main, module.params[text])
    if match := re.fullmatch(r"(\w+)\.outputs\.(\w+)", text):
        module = bicep.module(match.group(1))
        target = load((bicep.path.parent / module.path).resolve())
        assert match.group(2) in target.outputs, (target.relative, "no output", match.group(2))
        return trace(target, target.outputs[match.group(2)].value)
    return Origin(bicep, value)


def resource_property(bicep: BicepFile, reference: Expr) -> tuple[Resource, str] | None:
    """`symbol.rest` or `a::b.rest` as the resource it names and the rest of the reference."""
    match = re.fullmatch(r"(\w+(?:::\w+)*)\.(.+)", reference.text)
    if match is None:
        return None
    found = [r for r in bicep.resources if match.group(1) in (r.path, r.symbol)]
    return (found[0], match.group(2)) if len(found) == 1 else None


def name_of(bicep: BicepFile, value: Value) -> Value:
    """A value traced to its origin; `resource.name` becomes that resource's (literal) name."""
    origin = trace(bicep, value)
    if isinstance(origin.value, Expr):
        found = resource_property(origin.file, origin.value)
        if found is not None and found[1] == "name":
            return trace(origin.file, found[0].name).value
    return origin.value


# --- evaluating string expressions ---

_FUNCTIONS: dict[str, Callable[..., object]] = {
    "split": lambda text, separator: text.split(separator),
    "replace": lambda text, old, new: text.replace(old, new),
    "toLower": lambda text: text.lower(),
    "toUpper": lambda text: text.upper(),
    "take": lambda value, count: value[:count],
    "last": lambda value: value[-1],
    "first": lambda value: value[0],
}


def evaluate(expression: Value, references: Mapping[str, object]) -> object:
    """The value of a (string) expression, given the values of the references it uses: enough of Bicep to
    check what an app setting will hold once Azure fills in a resource's properties."""
    if not isinstance(expression, Expr):
        return expression
    tree = parse(f"var evaluated = {expression.text}\n".encode())
    assert not syntax_problems(tree), expression
    declaration = _named(tree.root_node)[0]
    return _evaluate(_named(declaration)[-1], references)


def _evaluate(node: tree_sitter.Node, references: Mapping[str, object]) -> object:
    named = _named(node)
    if node.type == "string":
        pieces = []
        for part in named:
            if part.type == "string_content":
                pieces.append(_text(part))
            elif part.type == "escape_sequence":
                pieces.append(_ESCAPES[_text(part)])
            else:  # interpolation
                pieces.append(str(_evaluate(_named(part)[0], references)))
        return "".join(pieces)
    if node.type == "number":
        return int(_text(node))
    if node.type in ("identifier", "member_expression", "resource_expression"):
        assert _text(node) in references, ("no value given for", _text(node))
        return references[_text(node)]
    if node.type == "parenthesized_expression":
        return _evaluate(named[0], references)
    if node.type == "subscript_expression":
        container, index = (_evaluate(child, references) for child in named)
        assert isinstance(container, list | str)
        assert isinstance(index, int)
        return container[index]
    if node.type == "call_expression":
        function, arguments = named
        assert _text(function) in _FUNCTIONS, ("cannot evaluate", _text(function))
        return _FUNCTIONS[_text(function)](
            *(_evaluate(argument, references) for argument in _named(arguments))
        )
    raise AssertionError(f"cannot evaluate {node.type}: {_text(node)}")
