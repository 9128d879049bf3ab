"""How every Slack message looks: Block Kit for posted messages, answers and the App Home, fitted to
Slack's limits. Nothing here sends or reads anything."""
