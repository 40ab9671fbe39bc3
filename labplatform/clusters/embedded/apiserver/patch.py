"""The four ways a client changes an object: merge, JSON, strategic and apply patches.

Pure functions on JSON-like dicts. Strategic merge patch and server-side
apply need to know which lists are maps keyed by a field (containers by
``name``, ports by ``containerPort``...): that knowledge lives in one
table, :data:`MERGE_KEYS`, shared by both.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from labplatform.clusters.embedded.apiserver import errors
from labplatform.clusters.embedded.apiserver.errors import ApiError, Cause

Obj = dict[str, Any]
Path = tuple[str, ...]

# Keyed lists inside a PodSpec, relative to the PodSpec.
_POD_SPEC: dict[Path, str] = {
    ("containers",): "name",
    ("initContainers",): "name",
    ("ephemeralContainers",): "name",
    ("volumes",): "name",
    ("imagePullSecrets",): "name",
    ("hostAliases",): "ip",
    ("containers", "ports"): "containerPort",
    ("containers", "env"): "name",
    ("containers", "volumeMounts"): "mountPath",
    ("containers", "volumeDevices"): "devicePath",
    ("initContainers", "ports"): "containerPort",
    ("initContainers", "env"): "name",
    ("initContainers", "volumeMounts"): "mountPath",
}
_COMMON: dict[Path, str] = {
    ("metadata", "ownerReferences"): "uid",
    ("status", "conditions"): "type",
}
_POD_PREFIX = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
}
_OTHER: dict[str, dict[Path, str]] = {
    "Service": {("spec", "ports"): "port"},
    "Node": {("status", "addresses"): "type"},
}
# Lists of scalars merged as sets rather than replaced.
_SET_LISTS: frozenset[Path] = frozenset({("metadata", "finalizers")})
STRATEGIC_KINDS = frozenset(
    {
        "Pod",
        "Deployment",
        "ReplicaSet",
        "Service",
        "Endpoints",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "Namespace",
        "Event",
        "Node",
        "EndpointSlice",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "CustomResourceDefinition",
    }
)


def merge_keys(kind: str) -> dict[Path, str]:
    """Keyed-list paths (list indices dropped) for one kind."""
    keys = dict(_COMMON)
    prefix = _POD_PREFIX.get(kind)
    if prefix:
        keys.update({prefix + path: key for path, key in _POD_SPEC.items()})
    keys.update(_OTHER.get(kind, {}))
    return keys


# -- RFC 7386 -------------------------------------------------------------------


def json_merge_patch(original: Obj, patch: object) -> Obj:
    """``application/merge-patch+json``: maps merge, ``null`` deletes, the rest replaces."""
    result = _merge(original, patch)
    if not isinstance(result, dict):
        raise errors.bad_request("the patch must be a JSON object")
    return result


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


# -- RFC 6902 -------------------------------------------------------------------


def _patch_error(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _patch_error(f"invalid JSON pointer {path!r}: must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _container(doc: Any, parts: list[str], op: str, path: str) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise _patch_error(
                f"jsonpatch {op} operation does not apply: doc is missing path: {path}"
            )
    return node, parts[-1]


def _index(node: list[Any], key: str, op: str, path: str, adding: bool) -> int:
    if adding and key == "-":
        return len(node)
    if not key.isdigit() or int(key) > len(node) - (0 if adding else 1):
        raise _patch_error(f"jsonpatch {op} operation does not apply: index out of range: {path}")
    return int(key)


def _read(doc: Any, path: str, op: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    node, key = _container(doc, parts, op, path)
    if isinstance(node, dict) and key in node:
        return node[key]
    if isinstance(node, list):
        return node[_index(node, key, op, path, adding=False)]
    raise _patch_error(f"jsonpatch {op} operation does not apply: doc is missing key: {path}")


def _remove(doc: Any, path: str, op: str) -> Any:
    node, key = _container(doc, _pointer(path), op, path)
    if isinstance(node, dict):
        if key not in node:
            raise _patch_error(
                f"jsonpatch {op} operation does not apply: doc is missing key: {path}"
            )
        return node.pop(key)
    return node.pop(_index(node, key, op, path, adding=False))


def _add(doc: Any, path: str, value: Any, op: str, replace: bool = False) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    node, key = _container(doc, parts, op, path)
    if isinstance(node, dict):
        if replace and key not in node:
            raise _patch_error(
                f"jsonpatch {op} operation does not apply: doc is missing key: {path}"
            )
        node[key] = value
    elif isinstance(node, list):
        index = _index(node, key, op, path, adding=not replace)
        if replace:
            node[index] = value
        else:
            node.insert(index, value)
    else:
        raise _patch_error(f"jsonpatch {op} operation does not apply: doc is missing path: {path}")
    return doc


def json_patch(original: object, operations: object) -> object:
    """``application/json-patch+json``; every operation applies or none does."""
    if not isinstance(operations, list):
        raise errors.bad_request("the JSON patch must be a list of operations")
    doc = copy.deepcopy(original)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise _patch_error(f"invalid JSON patch operation: {json.dumps(operation)}")
        op, path = operation["op"], operation["path"]
        if op in ("add", "replace", "test") and "value" not in operation:
            raise _patch_error(f"jsonpatch {op} operation is missing its value: {path}")
        if op == "add":
            doc = _add(doc, path, copy.deepcopy(operation["value"]), op)
        elif op == "replace":
            doc = _add(doc, path, copy.deepcopy(operation["value"]), op, replace=True)
        elif op == "remove":
            _remove(doc, path, op)
        elif op in ("move", "copy"):
            source = operation.get("from", "")
            value = (
                _remove(doc, source, op) if op == "move" else copy.deepcopy(_read(doc, source, op))
            )
            doc = _add(doc, path, value, op)
        elif op == "test":
            if _read(doc, path, op) != operation["value"]:
                raise _patch_error(f"testing value {path} failed: test failed")
        else:
            raise _patch_error(f"Unexpected kind: {op}")
    return doc


# -- strategic merge patch ---------------------------------------------------------

_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def strategic_merge_patch(original: Obj, patch: Obj, kind: str) -> Obj:
    """``application/strategic-merge-patch+json``, what kubectl apply/patch send."""
    if kind not in STRATEGIC_KINDS:
        raise errors.unsupported_media_type("application/strategic-merge-patch+json")
    if not isinstance(patch, dict):
        raise errors.bad_request("the strategic merge patch must be a JSON object")
    result = _strategic(original, patch, (), merge_keys(kind))
    if not isinstance(result, dict):
        raise errors.bad_request("the patch deleted the whole object")
    return result


def _strategic(original: Any, patch: Obj, path: Path, keys: dict[Path, str]) -> Any:
    directive = patch.get("$patch")
    body = {k: v for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive == "replace":
        return _strip_directives(body)
    result = dict(original) if isinstance(original, dict) else {}
    retain = body.pop("$retainKeys", None)
    orders = {k[len(_ORDER) :]: body.pop(k) for k in list(body) if k.startswith(_ORDER)}
    for key in [k for k in body if k.startswith(_DELETE_PRIMITIVE)]:
        field, doomed = key[len(_DELETE_PRIMITIVE) :], body.pop(key)
        if isinstance(result.get(field), list):
            result[field] = [v for v in result[field] if v not in doomed]
    for key, value in body.items():
        child = (*path, key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = _strategic(result.get(key), value, child, keys)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _strategic_list(result.get(key), value, child, keys)
        else:
            result[key] = value
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _ordered(result[field], order, keys.get((*path, field)))
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _strategic_list(original: Any, patch: list[Any], path: Path, keys: dict[Path, str]) -> Any:
    current = list(original) if isinstance(original, list) else []
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [_strip_directives(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    key = keys.get(path)
    if key is None:
        if path in _SET_LISTS:
            return current + [v for v in patch if v not in current]
        return [_strip_directives(i) if isinstance(i, dict) else i for i in patch]
    result = current
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise errors.bad_request(f"map: {item} does not contain declared merge key: {key}")
        index = next((i for i, c in enumerate(result) if c.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
        elif index is None:
            result.append(_strip_directives(item))
        else:
            result[index] = _strategic(result[index], item, path, keys)
    return result


def _ordered(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    if key is None:
        ranked = {json.dumps(v, sort_keys=True): i for i, v in enumerate(order)}
        return sorted(items, key=lambda v: ranked.get(json.dumps(v, sort_keys=True), len(order)))
    ranked = {json.dumps(o.get(key)): i for i, o in enumerate(order) if isinstance(o, dict)}
    return sorted(items, key=lambda v: ranked.get(json.dumps(v.get(key)), len(order)))


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


# -- field ownership (managedFields) and server-side apply ----------------------------

_UNOWNED_META = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "managedFields",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    }
)


def _leaves(obj: Any, path: Path, keyed: Path, keys: dict[Path, str]) -> Iterator[tuple[Path, Any]]:
    """(field path, value) of every owned leaf; keyed list items become ``k:{...}``."""
    if isinstance(obj, dict) and obj:
        for name, value in obj.items():
            if not path and name in ("apiVersion", "kind", "status"):
                continue
            if path == ("f:metadata",) and name in _UNOWNED_META:
                continue
            yield from _leaves(value, (*path, f"f:{name}"), (*keyed, name), keys)
    elif isinstance(obj, list) and keyed in keys and all(isinstance(i, dict) for i in obj):
        key = keys[keyed]
        for item in obj:
            item_path = (*path, "k:" + json.dumps({key: item.get(key)}, separators=(",", ":")))
            yield (*item_path, "."), None
            yield from _leaves(item, item_path, keyed, keys)
    else:
        yield path, obj


def field_set(obj: Obj, kind: str) -> dict[Path, Any]:
    return dict(_leaves(obj, (), (), merge_keys(kind)))


def _to_fields_v1(paths: set[Path]) -> Obj:
    tree: Obj = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(part, {})
    return tree


def _from_fields_v1(tree: Obj, prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for part, child in tree.items():
        path = (*prefix, part)
        if child:
            paths |= _from_fields_v1(child, path)
        else:
            paths.add(path)
    return paths


def _managers(obj: Obj | None) -> list[Obj]:
    return copy.deepcopy((obj or {}).get("metadata", {}).get("managedFields") or [])


def _entry(manager: str, operation: str, api_version: str, paths: set[Path]) -> Obj:
    return {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "fieldsType": "FieldsV1",
        "fieldsV1": _to_fields_v1(paths),
    }


def _set_managers(obj: Obj, entries: list[Obj]) -> Obj:
    kept = [e for e in entries if e.get("fieldsV1")]
    obj.setdefault("metadata", {})["managedFields"] = kept
    return obj


def record_update(live_before: Obj | None, live_after: Obj, manager: str) -> Obj:
    """``live_after`` with managedFields showing ``manager`` owns what it just changed."""
    kind = live_after.get("kind", "")
    before = field_set(live_before, kind) if live_before else {}
    after = field_set(live_after, kind)
    changed = {p for p, v in after.items() if p not in before or before[p] != v}
    entries = _managers(live_before)
    for entry in entries:
        owned = _from_fields_v1(entry.get("fieldsV1", {}))
        entry["fieldsV1"] = _to_fields_v1((owned - changed) & set(after))
    mine = next(
        (e for e in entries if e["manager"] == manager and e["operation"] == "Update"), None
    )
    if changed:
        if mine is None:
            entries.append(_entry(manager, "Update", live_after.get("apiVersion", ""), changed))
        else:
            owned = _from_fields_v1(mine.get("fieldsV1", {}))
            mine.update(
                _entry(manager, "Update", live_after.get("apiVersion", ""), owned | changed)
            )
    return _set_managers(copy.deepcopy(live_after), entries)


def server_side_apply(live: Obj | None, applied: Obj, manager: str, force: bool) -> Obj:
    """``application/apply-patch+yaml``: merge the applier's intent, own its fields."""
    kind = applied.get("kind", "")
    keys = merge_keys(kind)
    mine = field_set(applied, kind)
    current = field_set(live, kind) if live else {}
    entries = _managers(live)
    conflicts: list[Cause] = []
    for entry in entries:
        if entry["manager"] == manager and entry["operation"] == "Apply":
            continue
        owned = _from_fields_v1(entry.get("fieldsV1", {}))
        clashing = {p for p in owned & set(mine) if p in current and current[p] != mine[p]}
        if clashing and force:
            entry["fieldsV1"] = _to_fields_v1(owned - clashing)
        for path in sorted(clashing if not force else ()):
            conflicts.append(
                Cause(
                    "FieldManagerConflict",
                    f'conflict with "{entry["manager"]}" using {entry.get("apiVersion", "")}',
                    "." + ".".join(p[2:] if p.startswith("f:") else p for p in path),
                )
            )
    if conflicts:
        fields = ", ".join(f"{c.message}: {c.field}" for c in conflicts)
        plural = "s" if len(conflicts) > 1 else ""
        raise ApiError(
            409,
            "Conflict",
            f"Apply failed with {len(conflicts)} conflict{plural}: {fields}",
            {"causes": [c.to_dict() for c in conflicts]},
        )
    previous = next(
        (e for e in entries if e["manager"] == manager and e["operation"] == "Apply"), None
    )
    others: set[Path] = set()
    for entry in entries:
        if entry is not previous:
            others |= _from_fields_v1(entry.get("fieldsV1", {}))
    merged = _apply_merge(copy.deepcopy(live) if live else {}, applied, (), keys)
    if previous is not None:
        for path in _from_fields_v1(previous.get("fieldsV1", {})) - set(mine) - others:
            _drop(merged, path)
        entries.remove(previous)
    for entry in entries:
        owned = _from_fields_v1(entry.get("fieldsV1", {}))
        entry["fieldsV1"] = _to_fields_v1(owned - set(mine) if force else owned)
    entries.append(_entry(manager, "Apply", applied.get("apiVersion", ""), set(mine)))
    return _set_managers(merged, entries)


def _apply_merge(live: Any, applied: Any, path: Path, keys: dict[Path, str]) -> Any:
    if isinstance(applied, dict) and isinstance(live, dict):
        result = dict(live)
        for name, value in applied.items():
            result[name] = _apply_merge(live.get(name), value, (*path, name), keys)
        return result
    if isinstance(applied, list) and isinstance(live, list) and path in keys:
        key = keys[path]
        items = list(live)
        for item in applied:
            index = next((i for i, c in enumerate(items) if c.get(key) == item.get(key)), None)
            if index is None:
                items.append(copy.deepcopy(item))
            else:
                items[index] = _apply_merge(items[index], item, path, keys)
        return items
    return copy.deepcopy(applied)


def _drop(obj: Obj, path: Path) -> None:
    """Remove the field a managedFields path names, if it is still there."""
    if path and path[-1] == ".":  # the keyed list item itself
        path = path[:-1]
    node: Any = obj
    for part in path[:-1]:
        node = _step(node, part)
        if node is None:
            return
    last = path[-1]
    if isinstance(node, dict) and last.startswith("f:"):
        node.pop(last[2:], None)
    elif isinstance(node, list) and last.startswith("k:"):
        wanted = json.loads(last[2:])
        node[:] = [i for i in node if any(i.get(k) != v for k, v in wanted.items())]


def _step(node: Any, part: str) -> Any:
    if isinstance(node, dict) and part.startswith("f:"):
        return node.get(part[2:])
    if isinstance(node, list) and part.startswith("k:"):
        wanted = json.loads(part[2:])
        return next((i for i in node if all(i.get(k) == v for k, v in wanted.items())), None)
    return None
