"""Physically coupled lander subsystem models.

Each module is a set of small pure functions over floats (one physics step) so
that :class:`emulator.sim.simulation.LanderSimulation` can call them in its
step loop; the state lives in the simulation, not in the models.
"""
