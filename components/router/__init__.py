"""Router: HAProxy in front of the PostgreSQL primary/replicas and every component's router
listener (Redis' master). Rendered once (`render.render_haproxy`); with `router.placement: vms`
one step per edge VM installs it, with `k3s` the K3s component deploys the same text.

    render.py     the haproxy.cfg renderer, endpoints   contract.py  ports, `router` host group
    plan.py       its steps, from settings               component.py the ComponentResource (Pulumi)
    host/         the step script
"""
