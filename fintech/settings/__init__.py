"""Settings profiles: ``base`` holds everything; ``dev``, ``test`` and ``prod`` only adjust it.

``DJANGO_SETTINGS_MODULE`` picks the profile (``fintech.settings.dev`` by default in manage.py).
"""
