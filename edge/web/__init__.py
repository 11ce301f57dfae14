"""The browser pages' files, served by :mod:`edge.routes.pages`: ``player/`` (the
reference web player, docs/devices.md) and ``console/`` (the minimal operator console).

Plain HTML, CSS and JavaScript modules, no build step and nothing from elsewhere: what is
here is exactly what a browser runs. ``script-src 'self'`` applies, so no inline script
or ``eval``; build the DOM with ``textContent``, never ``innerHTML``.
"""
