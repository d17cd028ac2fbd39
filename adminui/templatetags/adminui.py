# The admin UI's filters live with the admin UI; Django finds tag libraries only here.
from adminui.filters import register  # noqa: F401
