"""A test-only app (installed by fintech/settings/test.py only): a small loyalty programme that
holds personal information and plugs into the platform through exactly the steps of
docs/ARCHITECTURE.md, "Plugging in a new app that holds personal information". Nothing in
compliance/, kernel/ or the other apps knows it exists; tests/plugin_app/test_plugs_in.py proves
each hook end to end."""
