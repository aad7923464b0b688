"""MicroPython entry point for a real MCU board (copy as ``main.py``).

Copy ``protocol.py``, ``gnc.py``, ``board.py`` and this file to the board's
flash (``mpremote cp firmware_stubs/{protocol,gnc,board}.py :`` and
``mpremote cp firmware_stubs/mcu_main.py :main.py``), set ``KIND`` and the UART
pins below, and connect the UART to the host's serial port
(``lunar-hil run --board gnc=serial:/dev/ttyUSB0?baud=115200``).

Not imported on the host: ``machine`` exists only on MicroPython.
"""

import time  # noqa: I001 - MicroPython has no isort

import machine  # type: ignore[import-not-found]

from board import BoardFirmware  # type: ignore[import-not-found]

KIND = 1  # BoardKind: 1 GNC, 2 payload, 3 EPS
TERRAIN_AWARE = True
UART_ID = 1
BAUD = 115200


def main() -> None:
    uart = machine.UART(UART_ID, baudrate=BAUD, timeout=5)
    firmware = BoardFirmware(KIND, terrain_aware=TERRAIN_AWARE)
    uart.write(firmware.hello())
    start = time.ticks_ms()
    while True:
        data = uart.read()
        if data:
            answer = firmware.receive(data)
            if answer:
                uart.write(answer)
        stream = firmware.poll(time.ticks_diff(time.ticks_ms(), start) / 1000.0)
        if stream:
            uart.write(stream)


main()
