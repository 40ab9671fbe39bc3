"""The four ways a client changes an object: merge, JSON, strategic and apply patches.

Pure functions on JSON-like dicts that answer a bad patch with the Status the
real API server gives, because kubectl and the Python client print and branch
on it. Strategic merge patch and server-side apply both need to know, per
kind, which lists are maps keyed by a field (containers by ``name``, ports by
``containerPort``...), which are sets and which maps apply replaces whole;
that knowledge lives in one table, :data:`MERGE_RULES`.

Field ownership (``metadata.managedFields``) follows structured-merge-diff,
the library behind the real server: each manager owns a set of field paths,
written in the ``FieldsV1`` encoding (``f:name`` a field, ``k:{"name":"app"}``
a keyed list item, ``v:"x"`` a set member, ``.`` the node itself).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from labplatform.clusters.embedded.apiserver import errors
from labplatform.clusters.embedded.apiserver.errors import ApiError, Cause

Obj = dict[str, Any]
Path = tuple[str, ...]  # field names from the root, list levels left out
FieldPath = tuple[str, ...]  # FieldsV1 elements from the root: "f:spec", 'k:{"name":"app"}'
_MISSING: Any = object()

# -- the merge-key table -------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """How one field merges where plain JSON (maps merge, lists replace) falls short.

    ``merge_key`` keys a list of objects for strategic merge patch (the Go
    ``patchMergeKey``); ``apply_keys`` key it for server-side apply (its
    ``listMapKeys``; none means apply treats the list as atomic), with
    ``defaults`` for keys a manifest may leave out.
    """

    merge_key: str = ""
    apply_keys: tuple[str, ...] = ()
    defaults: tuple[tuple[str, Any], ...] = ()
    scalar_set: bool = False  # a list of scalars merged as a set, e.g. finalizers
    atomic: bool = False  # a map that server-side apply owns and replaces whole


def _by(key: str, *more: str, **defaults: Any) -> Rule:
    return Rule(key, (key, *more, *defaults), tuple(defaults.items()))


def _under(prefix: Path, rules: dict[Path, Rule]) -> dict[Path, Rule]:
    return {prefix + path: rule for path, rule in rules.items()}


_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_CONTAINER: dict[str, Rule] = {
    "ports": _by("containerPort", protocol="TCP"),
    "env": _by("name"),
    "volumeMounts": _by("mountPath"),
    "volumeDevices": _by("devicePath"),
}
_POD_SPEC: dict[Path, Rule] = {
    ("volumes",): _by("name"),
    ("imagePullSecrets",): _by("name"),
    ("hostAliases",): _by("ip"),
    ("topologySpreadConstraints",): _by("topologyKey", "whenUnsatisfiable"),
    ("schedulingGates",): _by("name"),
    ("resourceClaims",): _by("name"),
    ("nodeSelector",): Rule(atomic=True),
    **{(kind,): _by("name") for kind in _CONTAINER_LISTS},
    **{(kind, name): rule for kind in _CONTAINER_LISTS for name, rule in _CONTAINER.items()},
}
_META: dict[Path, Rule] = {
    ("metadata", "finalizers"): Rule(scalar_set=True),
    ("metadata", "ownerReferences"): _by("uid"),
}
_CONDITIONS: dict[Path, Rule] = {**_META, ("status", "conditions"): _by("type")}
_WORKLOAD: dict[Path, Rule] = {
    **_CONDITIONS,
    **_under(("spec", "template", "spec"), _POD_SPEC),
    ("spec", "selector"): Rule(atomic=True),
}
MERGE_RULES: dict[str, dict[Path, Rule]] = {
    "Pod": {**_CONDITIONS, **_under(("spec",), _POD_SPEC), ("status", "podIPs"): _by("ip")},
    "PodTemplate": {**_META, **_under(("template", "spec"), _POD_SPEC)},
    "Deployment": _WORKLOAD,
    "ReplicaSet": _WORKLOAD,
    "Service": {
        **_CONDITIONS,
        ("spec", "ports"): _by("port", protocol="TCP"),
        ("spec", "selector"): Rule(atomic=True),
    },
    "Node": {**_CONDITIONS, ("status", "addresses"): Rule(merge_key="type")},
    "Namespace": _CONDITIONS,
    "CustomResourceDefinition": _CONDITIONS,
    "ServiceAccount": {**_META, ("secrets",): _by("name")},
    "MutatingWebhookConfiguration": {**_META, ("webhooks",): _by("name")},
    "ValidatingWebhookConfiguration": {**_META, ("webhooks",): _by("name")},
    **{kind: _META for kind in ("ConfigMap", "Secret", "Endpoints", "EndpointSlice", "Event")},
}
"""Per built-in kind, the fields that merge specially, by path; Endpoints ``subsets``,
tolerations and the other lists not named are replaced whole. Custom resources have
no entry: the real server refuses strategic merge for them."""

# -- errors worded as the real server words them ----------------------------------------

_UNPROCESSABLE = "the server rejected our request due to an error in our request"
_CUSTOM_RESOURCE_PATCHES = (
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
)
_GO_KIND = {dict: "object", list: "array", str: "string", bool: "bool"}
_NOT_META = (  # decoding an array where the server looks for apiVersion and kind
    "json: cannot unmarshal array into Go value of type struct { APIVersion string "
    '"json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }'
)


def _unprocessable() -> ApiError:
    """A patch that does not apply: upstream answers a bare 422 and keeps why to itself."""
    return ApiError(422, "Invalid", _UNPROCESSABLE)


def _server_error(message: str) -> ApiError:
    """Upstream's patch libraries fail with plain errors, which reach clients as a 500."""
    return ApiError(500, "", message)


def _cannot_unmarshal(value: Any, go_type: str) -> ApiError:
    kind = _GO_KIND.get(type(value), "number")
    return errors.bad_request(f"json: cannot unmarshal {kind} into Go value of type {go_type}")


def _go(value: Any) -> str:
    """``%v`` of a decoded JSON value, as Go's errors quote patches (``map[name:app]``)."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _same(a: Any, b: Any) -> bool:
    """JSON equality that tells 1 from 1.0 and true from 1, as upstream's comparisons do."""
    return _canon(a) == _canon(b)


# -- RFC 7386 JSON merge patch ------------------------------------------------------------


def json_merge_patch(original: Obj, patch: object) -> Obj:
    """``application/merge-patch+json``: what ``kubectl patch --type merge``, ``label``,
    ``annotate``, ``scale`` and apply on custom resources send."""
    if isinstance(patch, list):  # the object would become an array, which does not decode
        value = json.dumps(_canon(patch), ensure_ascii=False)
        cause = f"Invalid value: {value}: couldn't get version/kind; json parse error: {_NOT_META}"
        raise errors.invalid("", "", [Cause("FieldValueInvalid", cause, "patch")])
    if not isinstance(patch, dict):
        raise errors.bad_request("Invalid JSON Patch")
    merged: Obj = _merge(copy.deepcopy(original), patch)
    return merged


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


# -- RFC 6902 JSON patch ------------------------------------------------------------------

_MAX_OPERATIONS = 10000


class _NotApplicableError(Exception):
    """One operation of a JSON patch does not apply to the document."""


def json_patch(original: object, operations: object) -> object:
    """``application/json-patch+json``: every operation applies, or none does.

    Follows the library the real server uses (evanphx/json-patch v4), quirks
    included: ``replace`` of a missing member adds it, negative indices count
    from the end, and a missing ``value`` means null.
    """
    if operations is None:  # Go decodes a null patch as no operations
        operations = []
    if not isinstance(operations, list):
        raise _cannot_unmarshal(operations, "jsonpatch.Patch")
    for operation in operations:
        if operation is not None and not isinstance(operation, dict):
            raise _cannot_unmarshal(operation, "jsonpatch.Operation")
    if len(operations) > _MAX_OPERATIONS:
        raise ApiError(
            413,
            "RequestEntityTooLarge",
            "Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{_MAX_OPERATIONS}, got {len(operations)}",
        )
    doc = copy.deepcopy(original)
    try:
        for operation in operations:
            doc = _operate(doc, operation or {})
    except _NotApplicableError:
        raise _unprocessable() from None
    return doc


def _operate(doc: Any, operation: Obj) -> Any:
    op, path, value = operation.get("op"), operation.get("path"), operation.get("value")
    if not isinstance(path, str):
        raise _NotApplicableError
    value = copy.deepcopy(value)
    if op == "test":
        actual = doc if path == "" else _pointer_get(*_locate(doc, path))
        if not _same(actual, value):
            raise _NotApplicableError
    elif op == "replace" and path == "":
        if not isinstance(value, dict | list):
            raise _NotApplicableError
        return value
    elif op == "replace":
        parent, key = _locate(doc, path)
        _pointer_get(parent, key)  # an array index must exist; an object member need not
        parent[_index(key, len(parent)) if isinstance(parent, list) else key] = value
    elif op == "add":
        _pointer_add(*_locate(doc, path), value)
    elif op == "remove":
        _pointer_remove(*_locate(doc, path))
    elif op in ("move", "copy"):
        source = operation.get("from")
        if not isinstance(source, str):
            raise _NotApplicableError
        parent, key = _locate(doc, source)
        moved = _pointer_get(parent, key)
        if op == "move":
            _pointer_remove(parent, key)
        _pointer_add(*_locate(doc, path), copy.deepcopy(moved))
    else:
        raise _NotApplicableError
    return doc


def _locate(doc: Any, path: str) -> tuple[Any, str]:
    """The container a JSON pointer ends in, and the last (unescaped) token."""
    tokens = [re.sub("~[01]", lambda m: "/" if m[0] == "~1" else "~", t) for t in path.split("/")]
    if len(tokens) < 2:
        raise _NotApplicableError
    node = doc
    for token in tokens[1:-1]:
        node = _pointer_get(node, token)
        if not isinstance(node, dict | list):
            raise _NotApplicableError
    return node, tokens[-1]


def _index(token: str, size: int) -> int:
    """Go's ``strconv.Atoi`` of an array token, negative counting from the end."""
    if not re.fullmatch(r"[+-]?[0-9]+", token):
        raise _NotApplicableError
    index = int(token)
    if not -size <= index < size:
        raise _NotApplicableError
    return index % size


def _pointer_get(parent: Any, key: str) -> Any:
    if isinstance(parent, dict):
        return parent.get(key)  # a missing member reads as null, as upstream's does
    return parent[_index(key, len(parent))]


def _pointer_add(parent: Any, key: str, value: Any) -> None:
    if isinstance(parent, dict):
        parent[key] = value
    elif key == "-":
        parent.append(value)
    else:
        parent.insert(_index(key, len(parent) + 1), value)


def _pointer_remove(parent: Any, key: str) -> None:
    if isinstance(parent, list):
        del parent[_index(key, len(parent))]
    elif key in parent:
        del parent[key]
    else:
        raise _NotApplicableError


# -- strategic merge patch ----------------------------------------------------------------

_ORDER = "$setElementOrder/"
_DELETE_FROM = "$deleteFromPrimitiveList/"


def strategic_merge_patch(original: Obj, patch: Obj, kind: str) -> Obj:
    """``application/strategic-merge-patch+json``: what client-side ``kubectl apply``
    and ``kubectl patch`` send for built-in kinds; lists merge by key per :data:`MERGE_RULES`."""
    rules = MERGE_RULES.get(kind)
    if rules is None:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: "
            + _CUSTOM_RESOURCE_PATCHES,
        )
    if patch is not None and not isinstance(patch, dict):
        raise _cannot_unmarshal(patch, "map[string]interface {}")
    return _smp_map(copy.deepcopy(original), copy.deepcopy(patch or {}), (), rules)


def _smp_map(original: Any, patch: Obj, path: Path, rules: dict[Path, Rule]) -> Obj:
    if "$patch" in patch:
        directive = patch.pop("$patch")
        if directive == "replace":
            return _smp_map({}, patch, path, rules)
        if directive == "delete":
            return {}
        raise _server_error(
            f"unknown patch type: {_go(directive)} in map: {_go({**patch, '$patch': directive})}"
        )
    result: Obj = original if isinstance(original, dict) else {}
    if "$retainKeys" in patch:
        _retain_keys(result, patch, patch.pop("$retainKeys"))
    for directive in [k for k in patch if k.startswith(_ORDER)]:
        _set_element_order(result, patch, directive, path, rules)
    for key, value in patch.items():
        if key.startswith(_DELETE_FROM):
            name = key[len(_DELETE_FROM) :]
            if isinstance(result.get(name), list) and isinstance(value, list):
                result[name] = [v for v in result[name] if not any(_same(v, d) for d in value)]
        elif value is None:
            result.pop(key, None)
        else:
            result[key] = _smp_value(result.get(key), value, (*path, key), rules)
    return result


def _smp_value(current: Any, value: Any, path: Path, rules: dict[Path, Rule]) -> Any:
    if isinstance(value, dict):
        return _smp_map(current if isinstance(current, dict) else {}, value, path, rules)
    if isinstance(value, list):
        return _smp_list(current if isinstance(current, list) else [], value, path, rules)
    return value


def _retain_keys(result: Obj, patch: Obj, keep: Any) -> None:
    """``$retainKeys``: clear what the list does not name; the patch may set only what it names."""
    named = keep if isinstance(keep, list) else []
    stray = [
        k for k, v in patch.items() if v is not None and not k.startswith((_ORDER, _DELETE_FROM))
    ]
    if not isinstance(keep, list) or any(k not in named for k in stray):
        raise errors.bad_request("invalid patch format of retainKeys")
    for key in [k for k in result if k not in named]:
        del result[key]


def _set_element_order(
    result: Obj, patch: Obj, directive: str, path: Path, rules: dict[Path, Rule]
) -> None:
    """Merge the list ``$setElementOrder/<field>`` names, then put it in that order."""
    order, name = patch.pop(directive), directive[len(_ORDER) :]
    if not isinstance(order, list):
        raise errors.bad_request("invalid patch format of setElementOrder list")
    live = result.get(name)
    merged = live
    if isinstance(patch.get(name), list):
        merged = _smp_value(live, patch.pop(name), (*path, name), rules)
    if isinstance(merged, list):
        identity = _identity(rules.get((*path, name)))
        result[name] = _ordered(merged, order, live if isinstance(live, list) else [], identity)


def _identity(rule: Rule | None) -> Callable[[Any], str]:
    """What makes two list items the same item: their merge key, or their whole value."""
    key = rule.merge_key if rule else ""
    if not key:
        return _canon

    def merge_key(item: Any) -> str:
        if not isinstance(item, dict) or key not in item:
            raise _server_error(f"map: {_go(item)} does not contain declared merge key: {key}")
        return _canon(item[key])

    return merge_key


def _smp_list(current: list[Any], patch: list[Any], path: Path, rules: dict[Path, Rule]) -> Any:
    rule = rules.get(path)
    if rule is None or not (rule.merge_key or rule.scalar_set):
        return patch
    types = {type(item) for item in current + patch}
    if list in types:
        raise _unprocessable()  # "lists of lists are not supported"
    if len(types) > 1:
        raise _server_error(f"list element types are not identical: {_go([current, patch])}")
    if dict not in types:
        unique: dict[str, Any] = {}
        for item in current + patch:
            unique.setdefault(_canon(item), item)
        return _ordered(list(unique.values()), patch, current, _canon)
    identity = _identity(rule)
    plain, replace = [], False
    for item in patch:
        directive = item.get("$patch", _MISSING)
        if directive is _MISSING:
            plain.append(item)
        elif directive == "delete":
            doomed = identity(item)
            current = [c for c in current if identity(c) != doomed]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise _server_error("merging lists cannot yet be specified in the patch")
        else:
            raise _server_error(f"unknown patch type: {_go(directive)} in map: {_go(item)}")
    if replace:
        return [_smp_map({}, item, path, rules) for item in plain]
    merged = list(current)
    for item in plain:
        wanted = identity(item)
        at = next((n for n, c in enumerate(merged) if identity(c) == wanted), None)
        if at is None:
            merged.append(_smp_map({}, item, path, rules))
        else:
            merged[at] = _smp_map(merged[at], item, path, rules)
    return _ordered(merged, plain, current, identity)


def _ordered(
    merged: list[Any], order: list[Any], live: list[Any], identity: Callable[[Any], str]
) -> list[Any]:
    """Items the patch names in its order, the others in live order, interleaved by live order.

    Upstream's precedence: ``$setElementOrder`` (else the patch list), then the live list.
    """
    rank = {key: n for n, key in reversed(list(enumerate(map(identity, order))))}
    live_rank = {key: n for n, key in reversed(list(enumerate(map(identity, live))))}
    named = sorted((m for m in merged if identity(m) in rank), key=lambda m: rank[identity(m)])
    others = sorted(
        (m for m in merged if identity(m) not in rank),
        key=lambda m: live_rank.get(identity(m), len(live)),
    )
    result = []
    while named or others:
        a, b = (identity(others[0]) if others else None), (identity(named[0]) if named else None)
        first = not named or (a in live_rank and b in live_rank and live_rank[a] < live_rank[b])
        result.append(others.pop(0) if others and first else named.pop(0))
    return result


# -- field ownership: the sets managedFields records ----------------------------------------

# Nobody owns apiVersion, kind or the metadata the server sets.
_UNOWNED_TOP = frozenset({"apiVersion", "kind", "metadata"})
_SERVER_METADATA = frozenset(
    {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp"}
    | {"selfLink", "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds"}
)
# Go's zero value of a built-in kind already holds these, so upstream never sees a
# write add them whole (no "." entry), only what is inside them.
_ZERO_VALUE_FIELDS = frozenset({"metadata", "spec", "status", "template", "strategy", "containers"})


@dataclass(frozen=True)
class _Schema:
    """The typing server-side apply needs: the kind's rules, and whether it is built in."""

    rules: dict[Path, Rule]
    builtin: bool

    @classmethod
    def of(cls, kind: str) -> _Schema:
        rules = MERGE_RULES.get(kind)
        return cls(rules or {}, rules is not None)

    def children(self, value: Any, path: Path) -> dict[str, tuple[Path, Any]] | None:
        """A node's children by FieldsV1 element with their paths, or None for a leaf."""
        rule = self.rules.get(path)
        if isinstance(value, dict) and not (rule and rule.atomic):
            return {f"f:{k}": ((*path, k), v) for k, v in value.items()}
        if not isinstance(value, list) or rule is None:
            return None
        if rule.scalar_set:
            return {f"v:{_canon(v)}": (path, v) for v in value}
        if not rule.apply_keys:
            return None
        found: dict[str, tuple[Path, Any]] = {}
        for n, item in enumerate(value):
            element = _item_element(item, rule)  # a live item without its keys keeps its place
            found[f"i:{n}" if element is None or element in found else element] = (path, item)
        return found


def _item_element(item: Any, rule: Rule) -> str | None:
    """``k:{...}`` of a keyed list item: its key fields, defaults filled in, sorted."""
    if not isinstance(item, dict):
        return None
    defaults = dict(rule.defaults)
    if any(k not in item and k not in defaults for k in rule.apply_keys):
        return None
    return "k:" + _canon({k: item.get(k, defaults.get(k)) for k in sorted(rule.apply_keys)})


def _path_string(path: FieldPath) -> str:
    """A field path as conflicts print it: ``.spec.containers[name="app"].image``."""
    out = []
    for element in path:
        kind, text = element[0], element[2:]
        if kind == "f":
            out.append(f".{text}")
        elif kind == "k":
            pairs = json.loads(text).items()
            out.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in pairs) + "]")
        else:
            out.append(f"[={text}]" if kind == "v" else f"[{text}]")
    return "".join(out)


def _owned(value: Any, schema: _Schema, path: Path = (), at: FieldPath = ()) -> set[FieldPath]:
    """The fields a configuration sets: leaves, list items, empty maps, atomic values."""
    children = schema.children(value, path)
    if not children:
        keep = at and (children is None or isinstance(value, dict))
        return {at} if keep else set()
    owned: set[FieldPath] = set()
    for element, (child_path, child) in children.items():
        here = (*at, element)
        if element[0] != "f":
            owned.add(here)
        owned |= _owned(child, schema, child_path, here)
    return owned


def _nodes(value: Any, schema: _Schema, path: Path, at: FieldPath) -> set[FieldPath]:
    """Every node of a subtree, itself included."""
    nodes = {at}
    for element, (child_path, child) in (schema.children(value, path) or {}).items():
        nodes |= _nodes(child, schema, child_path, (*at, element))
    return nodes


@dataclass
class _Diff:
    added: set[FieldPath] = field(default_factory=set)
    modified: set[FieldPath] = field(default_factory=set)
    removed: set[FieldPath] = field(default_factory=set)

    @property
    def changed(self) -> set[FieldPath]:
        return self.added | self.modified


def _diff(before: Any, after: Any, schema: _Schema) -> _Diff:
    """What a write added, modified and removed, node by node."""
    diff = _Diff()

    def walk(old: Any, new: Any, path: Path, at: FieldPath) -> None:
        if old is _MISSING:
            diff.added |= {n for n in _nodes(new, schema, path, at) if not _preexists(n, schema)}
            return
        if new is _MISSING:
            diff.removed |= _nodes(old, schema, path, at)
            return
        was, now = schema.children(old, path), schema.children(new, path)
        if was is None or now is None or type(old) is not type(new):
            if not _same(old, new):
                diff.modified.add(at)
                diff.removed |= _nodes(old, schema, path, at) - {at}
                diff.added |= _nodes(new, schema, path, at) - {at}
            return
        for element in was.keys() | now.keys():
            child_path = (was.get(element) or now[element])[0]
            old_child = was[element][1] if element in was else _MISSING
            new_child = now[element][1] if element in now else _MISSING
            walk(old_child, new_child, child_path, (*at, element))

    walk(before, after, (), ())
    for found in (diff.added, diff.modified, diff.removed):
        found -= {(), ("f:metadata",)}
    return diff


def _preexists(node: FieldPath, schema: _Schema) -> bool:
    """Whether Go's zero value of a built-in kind already has this node."""
    return schema.builtin and bool(node) and node[-1][2:] in _ZERO_VALUE_FIELDS


def _scope(obj: Obj, subresource: str) -> Obj:
    """The part of an object a write through ``subresource`` changes: status is its own."""
    return {k: v for k, v in obj.items() if (k == "status") == (subresource == "status")}


def _tracked(obj: Obj, subresource: str) -> Obj:
    """What ownership covers: no apiVersion/kind, no metadata the server sets."""
    scoped = _scope(obj, subresource)
    view = {k: v for k, v in scoped.items() if k not in _UNOWNED_TOP}
    meta = {k: v for k, v in _metadata(scoped).items() if k not in _SERVER_METADATA}
    return {**view, "metadata": meta} if meta else view


def _metadata(obj: Obj | None) -> Obj:
    meta = (obj or {}).get("metadata")
    return meta if isinstance(meta, dict) else {}


def _decode_fields(tree: Any, prefix: FieldPath = ()) -> set[FieldPath]:
    paths: set[FieldPath] = set()
    for element, child in tree.items() if isinstance(tree, dict) else ():
        if element == ".":
            paths.add(prefix)
        elif isinstance(child, dict) and child:
            paths |= _decode_fields(child, (*prefix, element))
        else:
            paths.add((*prefix, element))
    return paths


def _encode_fields(paths: set[FieldPath]) -> Obj:
    tree: Obj = {}
    for path in paths:
        node = tree
        for element in path:
            node = node.setdefault(element, {})
        node["."] = {}

    def finish(node: Obj) -> Obj:
        children = {k: finish(v) for k, v in sorted(node.items()) if k != "."}
        return {".": {}, **children} if "." in node and children else children

    return finish(tree)


@dataclass(eq=False)
class _Manager:
    """One managedFields entry, its FieldsV1 decoded into a set of paths."""

    manager: str
    operation: str
    api_version: str
    subresource: str = ""
    time: str | None = None
    fields: set[FieldPath] = field(default_factory=set)

    @classmethod
    def parse(cls, entry: Obj) -> _Manager:
        return cls(
            str(entry.get("manager", "")),
            str(entry.get("operation", "")),
            str(entry.get("apiVersion", "")),
            str(entry.get("subresource", "")),
            entry.get("time"),
            _decode_fields(entry.get("fieldsV1")),
        )

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Who this is: an applier is the same whatever apiVersion it applies at."""
        version = "" if self.operation == "Apply" else self.api_version
        return (self.manager, self.operation, version, self.subresource)

    def describe(self) -> str:
        """The manager as conflict messages name it."""
        text = json.dumps(self.manager, ensure_ascii=False)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource, ensure_ascii=False)}"
        return f"{text} using {self.api_version}" if self.operation == "Update" else text

    def entry(self) -> Obj:
        entry: Obj = {"manager": self.manager, "operation": self.operation}
        entry["apiVersion"] = self.api_version
        if self.time:
            entry["time"] = self.time
        entry.update(fieldsType="FieldsV1", fieldsV1=_encode_fields(self.fields))
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


def _managers(obj: Obj | None) -> list[_Manager]:
    entries = _metadata(obj).get("managedFields") or []
    return [_Manager.parse(e) for e in entries if isinstance(e, dict)]


def _with_managers(obj: Obj, managers: list[_Manager]) -> Obj:
    """``obj`` carrying these managers, in upstream's order; managers owning nothing go."""
    result = copy.deepcopy(obj)
    ordered = sorted(
        (m for m in managers if m.fields),
        key=lambda m: (m.operation, m.time or "", m.manager, m.api_version, m.subresource),
    )
    meta = result.setdefault("metadata", {})
    meta["managedFields"] = [m.entry() for m in ordered]
    if not ordered:
        del meta["managedFields"]
    return result


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- writes: update and server-side apply ---------------------------------------------------


def record_update(
    live_before: Obj | None, live_after: Obj, manager: str, *, subresource: str = ""
) -> Obj:
    """``live_after`` with managedFields updated for a create, update or patch by ``manager``.

    The writer comes to own what it added or changed; every manager loses what
    the write changed under it or removed. Managed fields the request carries
    replace the live ones (kubectl rewrites them to hand client-side apply's
    fields to server-side apply). ``subresource`` is "status" or "scale" for
    writes through those; status is owned only through its subresource.
    """
    schema = _Schema.of(live_after.get("kind", ""))
    sent = _metadata(live_after).get("managedFields")
    managers = _managers(live_after if sent and not subresource else live_before)
    before = _tracked(live_before, subresource) if live_before is not None else _MISSING
    diff = _diff(before, _tracked(live_after, subresource), schema)
    me = _Manager(manager, "Update", str(live_after.get("apiVersion", "")), subresource)
    mine = next((m for m in managers if m.key == me.key), None)
    for other in managers:
        other.fields -= diff.removed if other is mine else diff.removed | diff.changed
    if diff.changed:
        if mine is None:
            mine = me
            managers.append(me)
        mine.fields |= diff.changed
        mine.time = _now()
    return _with_managers(live_after, managers)


def server_side_apply(
    live: Obj | None, applied: Obj, manager: str, force: bool, *, subresource: str = ""
) -> Obj:
    """``application/apply-patch+yaml`` (``kubectl apply --server-side``).

    Merges the configuration into the live object, takes ownership of what it
    sets, removes what this manager set last time and nobody owns now, and
    refuses (409) to change a field another manager owns unless ``force``.
    """
    if _metadata(applied).get("managedFields") is not None:
        raise errors.bad_request("metadata.managedFields must be nil")
    schema = _Schema.of(str(applied.get("kind", "")))
    config = _scope(applied, subresource)
    problem = _untypable(config, schema)
    if problem:
        raise _server_error(
            f"failed to create typed patch object ({_reference(applied)}): {problem}"
        )
    owned = _owned(_tracked(config, subresource), schema)
    base = copy.deepcopy(live) if live is not None else {}
    managers = _managers(live)
    if live is not None and not managers:  # written before anything recorded ownership
        everything = _owned(_tracked(live, subresource), schema)
        managers = [
            _Manager("before-first-apply", "Update", live.get("apiVersion", ""), fields=everything)
        ]
    me = _Manager(manager, "Apply", str(applied.get("apiVersion", "")), subresource)
    previous = next((m for m in managers if m.key == me.key), None)
    merged = _apply_merge(base, config, schema, ())
    if previous is not None:
        still_owned = owned.union(*(m.fields for m in managers if m is not previous))
        for path in sorted(previous.fields - still_owned, key=len):
            _prune(merged, path, schema, still_owned)
    diff = _diff(_tracked(base, subresource), _tracked(merged, subresource), schema)
    others = [m for m in managers if m is not previous]
    conflicts = [(m, path) for m in others for path in sorted(m.fields & diff.changed)]
    if conflicts and not force:
        raise _conflict(conflicts)
    for other in others:
        other.fields -= diff.changed | diff.removed
    if previous is None:
        previous = me
        managers.append(me)
    previous.fields, previous.api_version = owned, me.api_version
    if diff.changed or diff.removed or previous.time is None:
        previous.time = _now()
    return _with_managers(merged, managers)


def _apply_merge(live: Any, config: Any, schema: _Schema, path: Path) -> Any:
    """The configuration merged into the live value: maps by field, keyed lists by item."""
    theirs = schema.children(config, path)
    if theirs is None:  # a leaf or an atomic value: the configuration's wins
        return copy.deepcopy(config)
    if isinstance(config, dict):
        merged = dict(live) if isinstance(live, dict) else {}
        for key, value in config.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = _apply_merge(merged.get(key, _MISSING), value, schema, (*path, key))
        return merged
    ours = (schema.children(live, path) if isinstance(live, list) else None) or {}
    return _interleave(
        [(e, item) for e, (_, item) in ours.items()],
        [(e, item) for e, (_, item) in theirs.items()],
        lambda e, item: _apply_merge(ours.get(e, (path, _MISSING))[1], item, schema, path),
    )


def _interleave(
    live: list[tuple[str, Any]],
    applied: list[tuple[str, Any]],
    merge: Callable[[str, Any], Any],
) -> list[Any]:
    """Applied items in applied order; live-only items stay where they were among them."""
    wanted, present = {element for element, _ in applied}, {element for element, _ in live}
    shared = [element for element, _ in applied if element in present]  # yet to place
    result: list[Any] = []
    i = j = 0
    while i < len(live) or j < len(applied):
        if i < len(live) and live[i][0] not in wanted:
            result.append(live[i][1])
            i += 1
        elif i < len(live) and live[i][0] != (shared[0] if shared else None):
            i += 1  # placed already, or to be placed when the applied list reaches it
        else:
            element, item = applied[j]
            result.append(merge(element, item))
            j += 1
            if shared and shared[0] == element:
                shared.pop(0)
    return result


def _prune(obj: Obj, path: FieldPath, schema: _Schema, owned: set[FieldPath]) -> None:
    """Remove the field ``path`` names, then any map or list it leaves empty that nobody owns."""
    trail: list[tuple[Any, Path]] = [(obj, ())]
    for element in path:
        node, node_path = trail[-1]
        found = (schema.children(node, node_path) or {}).get(element)
        if found is None:
            return
        trail.append((found[1], found[0]))
    while path:
        parent, target = trail[-2][0], trail[-1][0]
        if isinstance(parent, dict):
            parent.pop(path[-1][2:], None)
        else:
            parent[:] = [item for item in parent if item is not target]
        path, trail = path[:-1], trail[:-1]
        if not path or parent or path in owned:
            return


def _untypable(value: Any, schema: _Schema, path: Path = (), at: FieldPath = ()) -> str | None:
    """Why an applied configuration does not fit its kind's keyed lists, if it does not."""
    rule = schema.rules.get(path)
    if isinstance(value, list) and rule is not None and rule.apply_keys:
        seen = set()
        for n, item in enumerate(value):
            element = _item_element(item, rule)
            if element is None:
                return f"{_path_string(at)}: element {n}: {_keyless(item, rule)}"
            if element in seen:
                return f"{_path_string(at)}: duplicate entries for key {_path_string((element,))}"
            seen.add(element)
            problem = _untypable(item, schema, path, (*at, element))
            if problem:
                return problem
    elif isinstance(value, dict):
        for key, child in value.items():
            problem = _untypable(child, schema, (*path, key), (*at, f"f:{key}"))
            if problem:
                return problem
    return None


def _keyless(item: Any, rule: Rule) -> str:
    if item is None:
        return "associative list with keys may not have a null element"
    if not isinstance(item, dict):
        return "associative list with keys may not have non-map elements"
    defaults = dict(rule.defaults)
    missing = next(k for k in rule.apply_keys if k not in item and k not in defaults)
    return (
        f'associative list with keys has an element that omits key field "{missing}"'
        " (and doesn't have default value)"
    )


def _reference(obj: Obj) -> str:
    """``namespace/name; group/version, Kind=Kind``, as upstream names an object in errors."""
    meta, api_version = _metadata(obj), str(obj.get("apiVersion", ""))
    group_version = api_version if "/" in api_version else f"/{api_version}"
    name = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    return f"{name}; {group_version}, Kind={obj.get('kind', '')}"


def _conflict(conflicts: list[tuple[_Manager, FieldPath]]) -> ApiError:
    """409 naming every field another manager owns, in upstream's wording."""
    conflicts.sort(key=lambda c: (c[0].key, c[1]))
    causes = [
        Cause("FieldManagerConflict", f"conflict with {m.describe()}", _path_string(p))
        for m, p in conflicts
    ]
    if len(causes) == 1:
        message = f"Apply failed with 1 conflict: {causes[0].message}: {causes[0].field}"
    else:
        lines: list[str] = []
        for manager in dict.fromkeys(m for m, _ in conflicts):
            lines.append(f"conflicts with {manager.describe()}:")
            lines += [f"- {_path_string(p)}" for m, p in conflicts if m is manager]
        message = f"Apply failed with {len(causes)} conflicts: " + "\n".join(lines)
    return ApiError(409, "Conflict", message, {"causes": [c.to_dict() for c in causes]})
