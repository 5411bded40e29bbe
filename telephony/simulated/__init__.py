"""A simulated telephone network for demos and trunk-less trials (``callcase simulate``)."""
