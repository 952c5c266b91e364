# Boot entry of the mule firmware. A board runs main.py from source (compiling costs
# heap), so it only starts app, which `mule flash` installs compiled.
import app

app.main()
