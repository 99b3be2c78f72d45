"""The dashboard (`/dashboard` of `provenfix serve`): what became of the suggestions.

Off unless PROVENFIX_DASHBOARD_TOKEN or the App's OAuth credentials are set
(settings.py); bot.webapp registers it through views.register_dashboard. This
package's __init__ imports nothing: bot.settings imports dashboard.settings.
"""
