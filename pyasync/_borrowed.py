"""asyncio's own methods on pyasync's loop, looked up where asyncio has them.

pyasync's loop runs much of asyncio's orchestration code unchanged
(create_connection, create_server, run_until_complete, the exception
handler...), taken from asyncio's loop classes.  A copy of the function
taken at import would miss what tests patch later on asyncio's class
(`mock.patch.object(asyncio.BaseEventLoop, "create_connection")` reaches
every asyncio loop); so each is a descriptor that reads the class's
attribute at every access and binds it as that attribute would bind.
"""

__all__ = ['borrowed']


class _Borrowed:
    __slots__ = ('cls', 'name', '__doc__')

    def __init__(self, cls, name):
        self.cls = cls
        self.name = name
        self.__doc__ = getattr(cls, name).__doc__

    def __set_name__(self, owner, name):
        if name != self.name:
            raise TypeError("%s.%s borrows %s.%s under another name"
                            % (owner.__name__, name, self.cls.__name__,
                               self.name))

    def __get__(self, obj, objtype=None):
        attr = getattr(self.cls, self.name)
        if obj is None:
            return attr
        bind = getattr(type(attr), '__get__', None)
        # A plain function binds to obj; a mock patched in stays unbound,
        # as it would on asyncio's own loop.
        return attr if bind is None else bind(attr, obj, objtype)

    def __repr__(self):
        return '<borrowed %s.%s>' % (self.cls.__name__, self.name)


def borrowed(cls, name):
    """cls's attribute `name`, looked up on cls at each access."""
    return _Borrowed(cls, name)
