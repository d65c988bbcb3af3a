"""Lava processes of our own (recorders). Kept in their own folder: when Lava looks
for a Process's models it imports every module beside it, so nothing else lives here."""
