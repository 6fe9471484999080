"""K3s's renderers (pure): each node's config.yaml, the systemd units, the kubeconfig rewrite."""

from components.k3s.render.config import node_labels, render_config, tls_sans
from components.k3s.render.kubeconfig import KubeconfigError, extract_kubeconfig, rewrite_kubeconfig
from components.k3s.render.units import render_unit, unit_name

__all__ = ["KubeconfigError", "extract_kubeconfig", "node_labels", "render_config", "render_unit",
           "rewrite_kubeconfig", "tls_sans", "unit_name"]
