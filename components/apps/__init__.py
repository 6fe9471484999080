"""AppStack: the business apps (Nextcloud, Odoo, Keycloak, Mautic) and the database/Redis router
in K3s, wired to the external data tier (components/apps/component.py)."""
