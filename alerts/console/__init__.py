"""The staff alert console under /console/: roles, audit trail, pages."""
