"""The operator command line behind bot.py: serve, check, killswitch, config, audit, runbooks, db, demo."""
