#!/usr/bin/env python3
"""Splits a rendered kustomize output: resources of custom resource definitions
(cert-manager.io, monitoring.coreos.com) are checked here for the fields their CRDs require,
since kubernetes-validate has no schema for them; every other resource is written to OUT for
kubernetes-validate. Usage: check-crds.py RENDERED OUT"""
import sys
import yaml

REQUIRED = {
    ("cert-manager.io/v1", "Certificate"): [
        ("spec", "secretName"),
        ("spec", "issuerRef", "name"),
    ],
    ("cert-manager.io/v1", "Issuer"): [("spec",)],
    ("cert-manager.io/v1", "ClusterIssuer"): [("spec",)],
    ("monitoring.coreos.com/v1", "PodMonitor"): [
        ("spec", "selector"),
        ("spec", "podMetricsEndpoints"),
    ],
    ("monitoring.coreos.com/v1", "PrometheusRule"): [("spec", "groups")],
}
ISSUER_KINDS = ("selfSigned", "ca", "acme", "vault", "venafi")


def get(doc, path):
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            return None
        doc = doc[key]
    return doc


def main(rendered, out):
    docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
    plain, errors, checked = [], [], 0
    for d in docs:
        api, kind = d.get("apiVersion", ""), d.get("kind", "")
        name = get(d, ("metadata", "name")) or "?"
        if "." not in api.split("/")[0] or api.startswith(("apps/", "batch/", "policy/")) \
                or api.split("/")[0].endswith(".k8s.io"):
            plain.append(d)
            continue
        rules = REQUIRED.get((api, kind))
        if rules is None:
            errors.append(f"{kind} {name}: {api} is not a known custom resource")
            continue
        checked += 1
        for path in rules:
            value = get(d, path)
            if value is None or value == "":
                errors.append(f"{kind} {name}: {'.'.join(path)} is required")
        if kind.endswith("Issuer") and not any(k in (d.get("spec") or {}) for k in ISSUER_KINDS):
            errors.append(f"{kind} {name}: spec names no issuer type ({', '.join(ISSUER_KINDS)})")
        if kind == "PodMonitor":
            endpoints = get(d, ("spec", "podMetricsEndpoints")) or []
            if not isinstance(endpoints, list) or not endpoints:
                errors.append(f"PodMonitor {name}: podMetricsEndpoints must list endpoints")
            for e in endpoints if isinstance(endpoints, list) else []:
                if not (isinstance(e, dict) and (e.get("port") or e.get("portNumber"))):
                    errors.append(f"PodMonitor {name}: every endpoint names its port")
            if not (get(d, ("spec", "selector", "matchLabels"))
                    or get(d, ("spec", "selector", "matchExpressions"))):
                errors.append(f"PodMonitor {name}: selector selects nothing")
        if kind == "PrometheusRule":
            # The schema's required fields: every group a name and rules, every rule an expr
            # and either alert or record. (promtool checks the same groups in full.)
            for g in get(d, ("spec", "groups")) or []:
                if not (isinstance(g, dict) and g.get("name") and isinstance(g.get("rules"), list)):
                    errors.append(f"PrometheusRule {name}: every group needs a name and rules")
                    continue
                for r in g["rules"]:
                    if not (isinstance(r, dict) and r.get("expr")
                            and bool(r.get("alert")) != bool(r.get("record"))):
                        errors.append(f"PrometheusRule {name}: group {g['name']}: every rule "
                                      "needs expr and one of alert or record")
        if kind == "Certificate":
            spec = d["spec"]
            if not spec.get("commonName") and not spec.get("dnsNames"):
                errors.append(f"Certificate {name}: needs commonName or dnsNames")
            if spec.get("isCA") is not True:
                usages = spec.get("usages") or []
                if "client auth" not in usages or "server auth" not in usages:
                    errors.append(f"Certificate {name}: usages need server auth and client auth")
    with open(out, "w") as f:
        yaml.safe_dump_all(plain, f, sort_keys=False)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"{checked} custom resources checked")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
