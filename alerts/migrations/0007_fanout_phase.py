from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("alerts", "0006_delivery_verbose_names")]
    operations = [
        migrations.AddField(model_name="alert", name="fanout_phase", field=models.PositiveSmallIntegerField(default=0)),
    ]
